//! Bundles the web console (`console/` at the workspace root) with the pinned
//! esbuild of `tools/node_modules` (`tools/build-console.mjs`) into OUT_DIR,
//! and writes the table of files the gateway embeds (`src/console.rs`).
//! Re-runs when a console source, the bundler script or the lockfile changes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = env("CARGO_MANIFEST_DIR").join("../..");
    let out = env("OUT_DIR");
    for p in ["console", "tools/build-console.mjs", "tools/package-lock.json"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let tools = root.join("tools");
    if !tools.join("node_modules/esbuild").is_dir() || !tools.join("node_modules/viem").is_dir() {
        fail(&format!(
            "the web console is bundled at build time with the pinned esbuild and libraries of tools/package.json, \
             and {} has none: run `npm ci --prefix tools` once (tools/test and tools/demo do it for you)",
            tools.join("node_modules").display()
        ));
    }
    let dist = out.join("console");
    let status = Command::new("node").arg(tools.join("build-console.mjs")).arg(&dist).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("bundling the web console failed ({s}); the lines above say why")),
        Err(e) => fail(&format!("cannot run node to bundle the web console: {e}; install Node.js 20 or later")),
    }
    let files = [
        ("index.html", "text/html; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("console.js", "text/javascript; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ];
    let mut table = String::from("/// The console's files: name, content type, bytes.\n");
    table.push_str("pub(crate) static FILES: &[(&str, &str, &[u8])] = &[\n");
    for (name, ty) in files {
        let path = dist.join(name);
        if !Path::new(&path).is_file() {
            fail(&format!("the console bundle lacks {name}"));
        }
        table.push_str(&format!("    ({name:?}, {ty:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    table.push_str("];\n");
    std::fs::write(out.join("console_files.rs"), table)
        .unwrap_or_else(|e| fail(&format!("writing the file table: {e}")));
}

/// A directory cargo names in the build script's environment.
fn env(name: &str) -> PathBuf {
    std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| fail(&format!("cargo did not set {name}")))
}

fn fail(msg: &str) -> ! {
    eprintln!("error: box-gateway: {msg}");
    std::process::exit(1);
}
