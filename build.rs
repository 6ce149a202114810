//! - Rebuilds when a migration is added: `sqlx::migrate!` embeds the folders' files, and cargo
//!   does not otherwise notice a new file in them.
//! - Embeds every template under `templates/` (but its README), so the binary needs no files
//!   beside it: `$OUT_DIR/templates.rs` lists `(name, contents)` pairs, the name being the path
//!   under `templates/`.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=templates");
    // Read when the script runs, not baked in when it was compiled: a build script binary
    // reused from another checkout must still read this one's templates.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("templates");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut out = String::from("/// Every built-in template: (name under templates/, contents).\n");
    out.push_str("pub const TEMPLATES: &[(&str, &str)] = &[\n");
    for file in files {
        let name = file.strip_prefix(&root).expect("under templates/");
        let name = name.to_str().expect("template names are UTF-8");
        if name == "README.md" {
            continue;
        }
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            file.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(dest.join("templates.rs"), out).expect("write templates.rs");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("templates/ is readable")
        .flatten()
    {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
