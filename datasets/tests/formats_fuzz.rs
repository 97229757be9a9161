//! Bounded mutation fuzzing of the NRRD, MetaImage, GIPL, 3D TIFF and NIfTI-2 readers: each
//! SimpleITK-written fixture (`fixtures/formats`) is mutated — bytes flipped, cut short, header
//! numbers replaced by absurd values — and read. Nothing may panic, and with
//! `NNUNET_MAX_VOXELS` set low no reader may allocate from a hostile header. Deterministic
//! (seeded); `NNUNET_FUZZ_CASES` sets the mutations per fixture (default 300).

use nnunet_datasets::io::read_image;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

const ABSURD: [&str; 10] = [
    "0",
    "-1",
    "-2147483648",
    "4294967297",
    "18446744073709551615",
    "1e308",
    "nan",
    "inf",
    "99999",
    "3.5",
];

/// One mutation of `bytes`.
fn mutate(rng: &mut ChaCha8Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match rng.gen_range(0..4) {
        0 => {
            // flip a few bytes, mostly in the header
            for _ in 0..rng.gen_range(1..6) {
                let end = if rng.gen_bool(0.8) {
                    out.len().min(600)
                } else {
                    out.len()
                };
                let i = rng.gen_range(0..end);
                out[i] = rng.r#gen();
            }
        }
        1 => out.truncate(rng.gen_range(0..out.len())),
        2 => {
            // replace a number in the (text) header with an absurd one
            let header = &out[..out.len().min(600)];
            let digits: Vec<usize> = (0..header.len())
                .filter(|&i| header[i].is_ascii_digit())
                .collect();
            if let Some(&start) = digits.get(rng.gen_range(0..digits.len().max(1))) {
                let end = (start..out.len())
                    .find(|&i| !out[i].is_ascii_digit())
                    .unwrap_or(out.len());
                let value = ABSURD[rng.gen_range(0..ABSURD.len())];
                out.splice(start..end, value.bytes());
            }
        }
        _ => {
            // overwrite a 2/4/8-byte binary field with extremes (GIPL, NIfTI-2, TIFF)
            let width = [2, 4, 8][rng.gen_range(0..3)];
            let end = out.len().min(560);
            if end > width {
                let i = rng.gen_range(0..end - width);
                let fill = if rng.gen_bool(0.5) { 0xff } else { 0x7f };
                out[i..i + width].fill(fill);
            }
        }
    }
    out
}

#[test]
fn mutated_fixtures_never_panic() {
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe { std::env::set_var("NNUNET_MAX_VOXELS", "1000000") };
    let cases: usize = std::env::var("NNUNET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats");
    let tmp = tempfile::tempdir().unwrap();
    // detached data files travel along, so mutated headers still find them
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
    }
    let names = [
        "oblique_raw.nrrd",
        "oblique_gzip.nrrd",
        "nrrd_detached.nhdr",
        "nrrd_detached_gzip.nhdr",
        "oblique_raw.mha",
        "oblique_zlib.mha",
        "meta_detached.mhd",
        "meta_detached_zlib.mhd",
        "axis.gipl",
        "axis_float.gipl.gz",
        "oblique_nifti2.nii",
        "volume_0000.tif",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let (mut runs, mut refused, mut panics) = (0, 0, Vec::new());
    for name in names {
        let original = std::fs::read(fixtures.join(name)).unwrap();
        let ending = &name[name.find('.').unwrap()..];
        let path = tmp.path().join(format!("mutant{ending}"));
        for case in 0..cases {
            let bytes = mutate(&mut rng, &original);
            std::fs::write(&path, &bytes).unwrap();
            let result = std::panic::catch_unwind(|| read_image(&[&path]));
            runs += 1;
            match result {
                Ok(Ok(image)) => assert!(image.channels[0].len() <= 1_000_000),
                Ok(Err(e)) => {
                    refused += 1;
                    // the header, or the detached data file it points to
                    let message = e.to_string();
                    assert!(
                        message.contains("mutant") || message.contains("detached"),
                        "{name} #{case}: {message}"
                    );
                }
                Err(_) => panics.push(format!("{name} #{case}")),
            }
        }
    }
    println!(
        "format fuzz: {runs} executions, {refused} refused, {} panics",
        panics.len()
    );
    assert!(panics.is_empty(), "readers panicked on: {panics:?}");
}
