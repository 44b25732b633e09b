# Common tasks, one command each.
.PHONY: demo test lint fmt release sandbox

demo:        ## Run the dashboard with the built-in WordPress.com sandbox
	cargo run --release -- demo

sandbox:     ## Run the WordPress.com sandbox alone (control API on)
	SANDBOX_CONTROL=true cargo run --release -- sandbox

test:        ## Everything CI runs
	scripts/test

lint:
	cargo clippy --all-targets -- -D warnings

fmt:
	cargo fmt

release:
	cargo build --release --locked
