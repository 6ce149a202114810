//! Rendering the files Alfa Cloud writes on servers (nginx vhosts, `.env`, compose files, PHP
//! settings) and the mails it sends, with tera.
//!
//! The templates are loaded once, at start-up: the built-in ones (every file under
//! `templates/`, embedded in the binary), then the operator's folder `ALFA_TEMPLATES_DIR`,
//! whose files replace the built-in ones of the same name or add new ones. A template that
//! does not parse stops the start with its name and tera's message, so a typo is found before
//! the first operation needs it.
//!
//! Values reach templates only as validated domain types: tera escapes nothing in these
//! formats (only `.html`, `.htm` and `.xml` templates are escaped).

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/templates.rs"));
}

/// The loaded templates; cheap to share behind an `Arc`.
pub struct Renderer {
    tera: tera::Tera,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("templates", &self.names())
            .finish()
    }
}

impl Renderer {
    /// The built-in templates, with those of `overrides` (when given) laid over them.
    pub fn load(overrides: Option<&Path>) -> anyhow::Result<Self> {
        let mut templates: Vec<(String, String)> = builtin::TEMPLATES
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect();
        if let Some(dir) = overrides {
            for (name, text) in read_folder(dir)? {
                templates.retain(|(existing, _)| *existing != name);
                templates.push((name, text));
            }
        }
        let mut tera = tera::Tera::default();
        // One at a time, so an error names the template that broke.
        for (name, text) in &templates {
            tera.add_raw_template(name, text)
                .map_err(|e| anyhow::anyhow!("{}", error_chain(&e)))
                .with_context(|| format!("template {name} does not parse"))?;
        }
        Ok(Self { tera })
    }

    /// Renders template `name` with `context` (any serializable struct of validated values).
    pub fn render(&self, name: &str, context: &impl Serialize) -> anyhow::Result<String> {
        let context = tera::Context::from_serialize(context)
            .map_err(|e| anyhow::anyhow!("{}", error_chain(&e)))
            .with_context(|| format!("preparing the values of template {name}"))?;
        self.tera
            .render(name, &context)
            .map_err(|e| anyhow::anyhow!("{}", error_chain(&e)))
            .with_context(|| format!("rendering template {name}"))
    }

    /// The names of every loaded template, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tera.get_template_names().collect();
        names.sort_unstable();
        names
    }
}

/// Every file under `dir` (recursively) as (path under `dir`, contents).
fn read_folder(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read the templates folder {}", folder.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path
                .strip_prefix(dir)
                .expect("found under dir")
                .to_str()
                .with_context(|| format!("template file name {} is not UTF-8", path.display()))?
                .to_owned();
            if name == "README.md" {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read template {}", path.display()))?;
            found.push((name, text));
        }
    }
    Ok(found)
}

/// tera's error with its causes (the line and what it expected are in the sources).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Php<'a> {
        timezone: &'a str,
    }

    fn folder(files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("alfa-tpl-{}", ulid::Ulid::generate()));
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn the_built_in_templates_load_and_render() {
        let renderer = Renderer::load(None).unwrap();
        assert!(renderer.names().contains(&"client/add_vars.ini"));
        let text = renderer
            .render(
                "client/add_vars.ini",
                &Php {
                    timezone: "Europe/Moscow",
                },
            )
            .unwrap();
        assert!(text.contains("date.timezone = Europe/Moscow"), "{text}");
    }

    #[test]
    fn an_operators_template_replaces_the_built_in_one() {
        let dir = folder(&[("client/add_vars.ini", "tz={{ timezone }}\n")]);
        let renderer = Renderer::load(Some(&dir)).unwrap();
        let text = renderer
            .render("client/add_vars.ini", &Php { timezone: "UTC" })
            .unwrap();
        assert_eq!(text, "tz=UTC\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_broken_template_stops_the_start_naming_the_file() {
        let dir = folder(&[("nginx/broken.conf", "server {{ name \n")]);
        let err = Renderer::load(Some(&dir)).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("nginx/broken.conf"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_value_is_an_error_not_an_empty_line() {
        #[derive(Serialize)]
        struct Nothing {}
        let renderer = Renderer::load(None).unwrap();
        let err = renderer
            .render("client/add_vars.ini", &Nothing {})
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("client/add_vars.ini"),
            "{err:#}"
        );
    }
}
