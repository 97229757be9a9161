//! `nnunet plugin new NAME --kind KIND`: writes a compiling plugin crate outside this checkout —
//! Cargo.toml (nnunet-core by path to this checkout), build.rs, `.cargo/config.toml` (the host's
//! libtorch), a worked `src/lib.rs`, a test and a README. The crate is written into a temporary
//! folder beside its destination and renamed at the end, so a failure leaves nothing behind.

use anyhow::{Context, Result, bail};
use nnunet_core::atomic::write_bytes;
use std::path::{Path, PathBuf};

/// The component kinds a scaffold can hold.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ScaffoldKind {
    Loss,
    Network,
    Trainer,
    Postprocessor,
    /// An image reader/writer (a file ending).
    Io,
    Augmentation,
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// The plugin's name: the crate's name and the registered component's name (e.g. my-focal).
    pub name: String,
    /// What the plugin adds.
    #[arg(long, value_enum)]
    pub kind: ScaffoldKind,
    /// The folder to create the crate in (the crate is DIR/NAME).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The nnunet-rs checkout whose nnunet-core the plugin builds against (default: the one
    /// this nnunet was built from).
    #[arg(long)]
    pub checkout: Option<PathBuf>,
}

const COMMON: [(&str, &str); 5] = [
    (
        "Cargo.toml",
        include_str!("../../templates/plugin/Cargo.toml.in"),
    ),
    (
        "build.rs",
        include_str!("../../templates/plugin/build.rs.in"),
    ),
    (
        ".cargo/config.toml",
        include_str!("../../templates/plugin/config.toml.in"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/plugin/gitignore.in"),
    ),
    (
        "README.md",
        include_str!("../../templates/plugin/README.md.in"),
    ),
];

/// `src/lib.rs`, its test, and how a user selects the component.
fn kind_files(kind: ScaffoldKind) -> (&'static str, &'static str, &'static str, &'static str) {
    use ScaffoldKind::*;
    match kind {
        Loss => (
            "loss",
            include_str!("../../templates/plugin/loss.rs.in"),
            include_str!("../../templates/plugin/loss_test.rs.in"),
            "e.g. `--loss {{name}}` or `--loss \"dice+{{name}}\"`",
        ),
        Network => (
            "network",
            include_str!("../../templates/plugin/network.rs.in"),
            include_str!("../../templates/plugin/network_test.rs.in"),
            "e.g. `--network {{name}}`",
        ),
        Trainer => (
            "trainer",
            include_str!("../../templates/plugin/trainer.rs.in"),
            include_str!("../../templates/plugin/trainer_test.rs.in"),
            "e.g. `--trainer {{name}}`",
        ),
        Postprocessor => (
            "postprocessor",
            include_str!("../../templates/plugin/postprocessor.rs.in"),
            include_str!("../../templates/plugin/postprocessor_test.rs.in"),
            "in a postprocessing file",
        ),
        Io => (
            "io",
            include_str!("../../templates/plugin/io.rs.in"),
            include_str!("../../templates/plugin/io_test.rs.in"),
            "as dataset.json's `\"overwrite_image_reader_writer\": \"{{name}}\"` (or by its file ending)",
        ),
        Augmentation => (
            "augmentation",
            include_str!("../../templates/plugin/augmentation.rs.in"),
            include_str!("../../templates/plugin/augmentation_test.rs.in"),
            "in an experiment TOML: `[[augmentations]] name = \"{{name}}\"  after = \"brightness\"`",
        ),
    }
}

/// A valid crate name: ASCII letters, digits, `-` and `_`, starting with a letter.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!(
            "plugin name {name:?}: use ASCII letters, digits, '-' and '_', starting with a letter"
        );
    }
    Ok(())
}

/// `my-focal` → `MyFocal`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The checkout this binary was built from, if it is still there.
fn default_checkout() -> Result<PathBuf> {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    checkout
        .join("core/Cargo.toml")
        .is_file()
        .then(|| checkout.canonicalize())
        .transpose()?
        .with_context(|| {
            format!(
                "the checkout this nnunet was built from ({}) is gone: pass --checkout PATH",
                checkout.display()
            )
        })
}

pub fn run(args: NewArgs) -> Result<()> {
    check_name(&args.name)?;
    let checkout = match &args.checkout {
        Some(c) => c
            .canonicalize()
            .with_context(|| format!("--checkout {}", c.display()))?,
        None => default_checkout()?,
    };
    if !checkout.join("core/Cargo.toml").is_file() {
        bail!(
            "{}: not an nnunet-rs checkout (no core/Cargo.toml)",
            checkout.display()
        );
    }
    let dest = args.dir.join(&args.name);
    if dest.exists() {
        bail!(
            "{} already exists: choose another name or folder",
            dest.display()
        );
    }
    let libtorch = Path::new(nnunet_core::BuildFingerprint::current().libtorch_lib).join("..");
    let libtorch = libtorch.canonicalize().unwrap_or(libtorch);
    let (kind, lib_rs, test_rs, usage) = kind_files(args.kind);
    let fill = |template: &str| {
        template
            .replace("{{usage}}", usage)
            .replace("{{name}}", &args.name)
            .replace("{{lib}}", &args.name.replace('-', "_"))
            .replace("{{type}}", &type_name(&args.name))
            .replace("{{kind}}", kind)
            .replace("{{checkout}}", &checkout.to_string_lossy())
            .replace("{{libtorch}}", &libtorch.to_string_lossy())
    };
    let mut files: Vec<(String, String)> = COMMON
        .iter()
        .map(|(path, text)| (path.to_string(), fill(text)))
        .collect();
    files.push(("src/lib.rs".into(), fill(lib_rs)));
    files.push((format!("tests/{kind}.rs"), fill(test_rs)));
    let staging = args
        .dir
        .join(format!(".{}.new-{}", args.name, std::process::id()));
    let written = files
        .iter()
        .try_for_each(|(path, text)| write_bytes(&staging.join(path), text.as_bytes()))
        .map_err(anyhow::Error::from)
        .and_then(|()| std::fs::rename(&staging, &dest).context("moving the crate into place"));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e.context(format!("writing {}", dest.display())));
    }
    println!("created {} ({kind} plugin `{}`)", dest.display(), args.name);
    println!(
        "next: cd {} && cargo build && nnunet plugins list --plugin target/debug/lib{}.so",
        dest.display(),
        args.name.replace('-', "_")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_become_type_names() {
        assert!(check_name("my-focal").is_ok());
        assert!(check_name("9lives").is_err());
        assert!(check_name("a/b").is_err());
        assert_eq!(type_name("my-focal_loss"), "MyFocalLoss");
    }

    #[test]
    fn every_placeholder_is_filled() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [
            ScaffoldKind::Loss,
            ScaffoldKind::Network,
            ScaffoldKind::Trainer,
            ScaffoldKind::Postprocessor,
            ScaffoldKind::Io,
            ScaffoldKind::Augmentation,
        ] {
            let name = format!("p-{kind:?}").to_lowercase();
            let args = NewArgs {
                name: name.clone(),
                kind,
                dir: dir.path().into(),
                checkout: None,
            };
            run(args).unwrap();
            let crate_dir = dir.path().join(&name);
            for file in [
                "Cargo.toml",
                "build.rs",
                "README.md",
                "src/lib.rs",
                ".cargo/config.toml",
            ] {
                let text = std::fs::read_to_string(crate_dir.join(file)).unwrap();
                assert!(
                    !text.contains("{{"),
                    "{file} of {kind:?} keeps a placeholder"
                );
            }
        }
        let again = NewArgs {
            name: "p-loss".into(),
            kind: ScaffoldKind::Loss,
            dir: dir.path().into(),
            checkout: None,
        };
        assert!(
            run(again)
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
    }
}
