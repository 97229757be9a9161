//! Files that are not plugins, plugins built for another plugin ABI or libtorch, forged headers,
//! and plugins that panic are refused or contained with clear errors naming the file.

use nnunet_core::tch::{Device, Kind, Tensor};
use nnunet_core::{Error, LossSpec, Registry};
use nnunet_tests::plugin_path;

fn load_err(path: &std::path::Path) -> String {
    let mut registry = Registry::empty();
    match registry.load_plugin(path) {
        Ok(()) => panic!("{} should have been refused", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_text_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("libnot_a_plugin.so");
    std::fs::write(&file, "this is text, not ELF").unwrap();
    let msg = load_err(&file);
    assert!(msg.contains("libnot_a_plugin.so"), "{msg}");
    assert!(msg.contains("not a loadable shared library"), "{msg}");
}

#[test]
fn a_missing_file_is_refused() {
    let msg = load_err(std::path::Path::new("/nonexistent/libplugin.so"));
    assert!(msg.contains("cannot open plugin file"), "{msg}");
}

#[test]
fn a_shared_library_without_header_is_refused() {
    let c10 = std::path::Path::new(nnunet_core::BuildFingerprint::current().libtorch_lib)
        .join("libc10.so");
    let msg = load_err(&c10);
    assert!(msg.contains("not an nnunet-rs plugin"), "{msg}");
    assert!(msg.contains("NNUNET_PLUGIN_HEADER"), "{msg}");
}

/// The host's side of a refusal message: its ABI and libtorch.
fn host_side() -> String {
    format!(
        "host:   ABI {}, libtorch {}",
        nnunet_core::plugin::ABI_VERSION,
        nnunet_core::plugin::LIBTORCH_VERSION
    )
}

#[test]
fn a_plugin_built_for_another_abi_is_refused_naming_the_file_and_both_sides() {
    let path = plugin_path("nnunet_fixture_abi");
    let msg = load_err(&path);
    assert!(msg.contains("libnnunet_fixture_abi.so"), "{msg}");
    assert!(
        msg.contains("refused: built for another plugin ABI"),
        "{msg}"
    );
    let plugin_side = format!(
        "plugin: ABI 999, libtorch {}",
        nnunet_core::plugin::LIBTORCH_VERSION
    );
    assert!(msg.contains(&plugin_side), "{msg}");
    assert!(msg.contains(&host_side()), "{msg}");
}

#[test]
fn a_plugin_built_for_another_libtorch_flavour_is_refused_naming_the_file_and_both_sides() {
    let msg = load_err(&plugin_path("nnunet_fixture_flavour"));
    assert!(msg.contains("libnnunet_fixture_flavour.so"), "{msg}");
    let host = nnunet_core::plugin::LIBTORCH_VERSION;
    let (version, flavour) = host.split_once('+').unwrap_or((host, ""));
    let other = if flavour == "cpu" { "cu130" } else { "cpu" };
    let plugin_side = format!(
        "plugin: ABI {}, libtorch {version}+{other}",
        nnunet_core::plugin::ABI_VERSION
    );
    assert!(msg.contains(&plugin_side), "{msg}");
    assert!(msg.contains(&host_side()), "{msg}");
}

#[test]
fn a_forged_header_is_refused_not_dereferenced() {
    // Its libtorch string points at 0xdead0000: reading it would crash the host.
    let msg = load_err(&plugin_path("nnunet_fixture_forged"));
    assert!(msg.contains("libnnunet_fixture_forged.so"), "{msg}");
    assert!(
        msg.contains("NNUNET_PLUGIN_HEADER is forged or truncated (libtorch version)"),
        "{msg}"
    );
}

#[test]
fn a_truncated_header_is_refused() {
    let msg = load_err(&plugin_path("nnunet_fixture_truncated"));
    assert!(msg.contains("libnnunet_fixture_truncated.so"), "{msg}");
    assert!(
        msg.contains("NNUNET_PLUGIN_HEADER is forged or truncated"),
        "{msg}"
    );
}

#[test]
fn a_panic_inside_a_plugin_loss_becomes_an_error() {
    let mut registry = Registry::empty();
    registry
        .load_plugin(&plugin_path("nnunet_fixture_panicky"))
        .unwrap();
    let loss = registry
        .build_loss("panicky", &LossSpec::default())
        .unwrap();
    let x = Tensor::zeros([1, 2, 4], (Kind::Float, Device::Cpu));
    let y = Tensor::zeros([1, 1, 4], (Kind::Int64, Device::Cpu));
    match loss.compute(&x, &y) {
        Err(Error::Panic { context, message }) => {
            assert_eq!(context, "loss panicky");
            assert!(message.contains("compute always panics"), "{message}");
        }
        Err(other) => panic!("expected a panic error, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}
