//! The documents hold what the code says: `docs/configuration.md` lists every setting the
//! binary accepts with its default, generated from the command-line definitions (a stale or
//! missing one fails here; `UPDATE_DOCS=1 cargo test --test api docs::` rewrites the table),
//! `docs/architecture.md` names every top-level module, and no document says when or in which
//! sitting something was done.

use std::{collections::BTreeMap, path::Path};

use clap::CommandFactory as _;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One setting: its default, its help, and the commands that take it.
struct Setting {
    default: String,
    help: String,
    commands: Vec<String>,
}

/// Every `PORTAL_*` and `SANDBOX_*` variable of `serve`, `demo` and `sandbox`, in the order the
/// commands define them.
fn settings() -> Vec<(String, Setting)> {
    let cli = partner_portal::cli::Cli::command();
    let mut order = Vec::new();
    let mut found: BTreeMap<String, Setting> = BTreeMap::new();
    for command in cli.get_subcommands() {
        let name = command.get_name().to_owned();
        if !matches!(name.as_str(), "serve" | "demo" | "sandbox") {
            continue;
        }
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env().and_then(|e| e.to_str()) else {
                continue;
            };
            let entry = found.entry(env.to_owned()).or_insert_with(|| {
                order.push(env.to_owned());
                let default = arg
                    .get_default_values()
                    .iter()
                    .filter_map(|v| v.to_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let help = arg
                    .get_long_help()
                    .or(arg.get_help())
                    .map(|h| h.to_string())
                    .unwrap_or_default()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                Setting {
                    default,
                    help,
                    commands: Vec::new(),
                }
            });
            entry.commands.push(name.clone());
        }
    }
    order
        .into_iter()
        .filter_map(|env| found.remove(&env).map(|s| (env, s)))
        .collect()
}

/// The generated table, as `docs/configuration.md` holds it between its markers.
fn settings_table() -> String {
    let mut out =
        String::from("| Variable | Default | Commands | Meaning |\n| --- | --- | --- | --- |\n");
    for (env, s) in settings() {
        let default = if s.default.is_empty() {
            String::new()
        } else {
            format!("`{}`", s.default)
        };
        out.push_str(&format!(
            "| `{env}` | {default} | {} | {} |\n",
            s.commands.join(", "),
            s.help.replace('|', "\\|")
        ));
    }
    out
}

const START: &str = "<!-- settings: generated from the command line by tests/api/docs.rs -->\n";
const END: &str = "<!-- settings: end -->";

#[test]
fn the_configuration_document_lists_every_setting_with_its_default() {
    let path = root().join("docs/configuration.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = text
        .split_once(START)
        .expect("the settings table's start marker");
    let (table, tail) = rest
        .split_once(END)
        .expect("the settings table's end marker");
    let expected = settings_table();
    if table != expected && std::env::var("UPDATE_DOCS").is_ok() {
        std::fs::write(&path, format!("{head}{START}{expected}{END}{tail}")).unwrap();
        return;
    }
    assert!(settings().len() > 40, "the scan found too few settings");
    assert_eq!(
        table, expected,
        "docs/configuration.md is stale: run UPDATE_DOCS=1 cargo test --test api docs::"
    );
    // Every variable the rest of the document names exists.
    let known: Vec<String> = settings().into_iter().map(|(env, _)| env).collect();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if (word.starts_with("PORTAL_") || word.starts_with("SANDBOX_"))
            && !word.ends_with('_')
            && !known.iter().any(|k| k == word)
            && word != "PORTAL_TEST_POSTGRES_URL"
            && word != "PORTAL_COMMIT"
        {
            panic!("docs/configuration.md names {word}, which no command takes");
        }
    }
}

#[test]
fn the_architecture_document_names_every_top_level_module() {
    let text = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert!(modules.len() > 15);
    for m in modules {
        assert!(
            text.contains(&format!("`{m}`")) || text.contains(&format!("{m}/")),
            "docs/architecture.md does not name the module {m}"
        );
    }
}

#[test]
fn no_document_says_when_or_in_which_sitting_it_was_written() {
    let mut files = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let diary = [
        "this session",
        "previous session",
        "last session",
        "today",
        "yesterday",
        "at the start of the day",
        "this morning",
        "earlier today",
        "so far this",
        "we now",
        "I measured",
        "I built",
    ];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap().to_lowercase();
        for words in diary {
            assert!(
                !text.contains(&words.to_lowercase()),
                "{} says \"{words}\"",
                file.display()
            );
        }
    }
}
