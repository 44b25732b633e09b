# Common tasks, one command each.
.PHONY: demo test lint fmt release sandbox bench throughput deny screenshots

demo:        ## Run the dashboard with the built-in WordPress.com sandbox
	cargo run --release -- demo

sandbox:     ## Run the WordPress.com sandbox alone (control API on)
	SANDBOX_CONTROL=true cargo run --release -- sandbox

test:        ## Everything CI runs
	scripts/test

bench:       ## Sync/latency/memory figures against 100,000 sandbox activations
	scripts/bench

throughput:  ## Page throughput with wrk against the framework's floor (/healthz)
	scripts/throughput

deny:        ## cargo deny with the offline advisory database
	scripts/deny

lint:
	cargo clippy --all-targets -- -D warnings

fmt:
	cargo fmt

release:
	cargo build --release --locked

screenshots: ## Run the page checks in Chromium and refresh README's two screenshots from them
	cargo test --test api screens::
	cp target/screenshots/activations-laptop-light.png docs/screenshots/activations-laptop.png
	cp target/screenshots/activations-phone-light.png docs/screenshots/activations-phone.png
