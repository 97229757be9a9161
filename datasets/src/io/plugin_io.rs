//! Image readers/writers from plugins ([`nnunet_core::ImageIo`]), installed process-wide so that
//! every stage that reads or writes through [`super`] — verify, fingerprint, preprocess,
//! predict, evaluate, overlay, postprocess — handles their file endings. An installed ending
//! takes precedence over a built-in format of the same ending.
//!
//! `dataset.json`'s `overwrite_image_reader_writer` names a reader/writer; [`check_override`]
//! accepts nnU-Net's own class names (served by the built-in formats) and installed ones whose
//! endings include the dataset's `file_ending`.

use nnunet_core::{Error, Image, ImageIo, Registry, Result};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// One installed reader/writer.
struct Entry {
    name: String,
    /// Lower-case endings, leaked once per install (a handful of short strings per process) so
    /// that [`super::file_ending`] can keep returning `&'static str`.
    endings: Vec<&'static str>,
    io: Arc<dyn ImageIo>,
}

static INSTALLED: RwLock<Vec<Entry>> = RwLock::new(Vec::new());

/// nnU-Net's reader/writer class names, which the built-in formats serve.
pub const NNUNET_READER_WRITERS: [&str; 6] = [
    "SimpleITKIO",
    "SimpleITKIOWithReorient",
    "NibabelIO",
    "NibabelIOWithReorient",
    "NaturalImage2DIO",
    "Tiff3DIO",
];

/// Installs `io` under `name` (replacing an earlier one of that name).
pub fn install(name: &str, io: Box<dyn ImageIo>) -> Result<()> {
    let mut endings = Vec::new();
    for ending in io.endings() {
        if !ending.starts_with('.') || ending.len() < 2 {
            return Err(Error::Invalid(format!(
                "image reader/writer {name}: ending {ending:?} must start with a dot"
            )));
        }
        endings.push(&*Box::leak(ending.to_ascii_lowercase().into_boxed_str()));
    }
    let mut table = INSTALLED.write().unwrap_or_else(|e| e.into_inner());
    table.retain(|e| e.name != name);
    table.push(Entry {
        name: name.to_string(),
        endings,
        io: Arc::from(io),
    });
    Ok(())
}

/// Installs every image reader/writer `registry` holds.
pub fn install_from(registry: &Registry) -> Result<()> {
    for (name, io) in registry.build_image_ios()? {
        install(&name, io)?;
    }
    Ok(())
}

/// The installed ending of `name` (lower-cased), longest match.
pub(crate) fn ending_of(name: &str) -> Option<&'static str> {
    let table = INSTALLED.read().unwrap_or_else(|e| e.into_inner());
    table
        .iter()
        .flat_map(|e| e.endings.iter().copied())
        .filter(|ending| name.ends_with(ending))
        .max_by_key(|ending| ending.len())
}

/// The reader/writer installed for `path`'s ending.
pub(crate) fn for_path(path: &Path) -> Option<Arc<dyn ImageIo>> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let ending = ending_of(&name)?;
    let table = INSTALLED.read().unwrap_or_else(|e| e.into_inner());
    table
        .iter()
        .find(|e| e.endings.contains(&ending))
        .map(|e| e.io.clone())
}

/// Checks `dataset.json`'s `overwrite_image_reader_writer` against `file_ending`: an nnU-Net
/// class name, or an installed reader/writer that handles the ending.
pub fn check_override(name: &str, file_ending: &str) -> Result<()> {
    if name == "None" || NNUNET_READER_WRITERS.contains(&name) {
        return Ok(());
    }
    let table = INSTALLED.read().unwrap_or_else(|e| e.into_inner());
    let Some(entry) = table.iter().find(|e| e.name == name) else {
        let mut known: Vec<&str> = NNUNET_READER_WRITERS.to_vec();
        known.extend(table.iter().map(|e| e.name.as_str()));
        return Err(Error::Invalid(format!(
            "overwrite_image_reader_writer {name:?} is not a reader/writer we know (known: {}; \
             a plugin's is known once the plugin is loaded, e.g. through NNUNET_PLUGINS)",
            known.join(", ")
        )));
    };
    let ending = file_ending.to_ascii_lowercase();
    if entry.endings.contains(&ending.as_str()) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "overwrite_image_reader_writer {name:?} reads {}, not the dataset's file_ending {file_ending:?}",
            entry.endings.join(", ")
        )))
    }
}

/// A file read by a plugin, checked: every channel the size of its shape.
pub(crate) fn read(io: &dyn ImageIo, path: &Path) -> Result<Image> {
    let image = io.read(path)?;
    let voxels = image.voxels();
    if image.channels.is_empty() || image.channels.iter().any(|c| c.len() != voxels) {
        return Err(Error::invalid_file(
            path,
            format!(
                "the reader returned {} channel(s) whose sizes do not match the shape {:?}",
                image.channels.len(),
                image.shape
            ),
        ));
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnunet_core::LabelMap;

    /// A reader/writer of `.rows` files: `z y x` then one value per line.
    struct Rows;

    impl ImageIo for Rows {
        fn endings(&self) -> Vec<String> {
            vec![".rows".into()]
        }
        fn read(&self, path: &Path) -> Result<Image> {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let mut numbers = text.split_whitespace().map(|v| v.parse::<f32>().unwrap());
            let shape = [0, 1, 2].map(|_| numbers.next().unwrap() as usize);
            Ok(Image {
                shape,
                channels: vec![numbers.collect()],
                geometry: Default::default(),
                is_2d: shape[0] == 1,
            })
        }
        fn encode_image(&self, image: &Image) -> Result<Vec<u8>> {
            let mut text = format!("{} {} {}\n", image.shape[0], image.shape[1], image.shape[2]);
            for v in &image.channels[0] {
                text.push_str(&format!("{v}\n"));
            }
            Ok(text.into_bytes())
        }
        fn encode_label(&self, label: &LabelMap) -> Result<Vec<u8>> {
            self.encode_image(&Image {
                shape: label.shape,
                channels: vec![label.data.iter().map(|&v| v as f32).collect()],
                geometry: label.geometry.clone(),
                is_2d: label.is_2d,
            })
        }
    }

    #[test]
    fn an_installed_format_is_read_and_written_through_the_common_functions() {
        install("RowsIO", Box::new(Rows)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case_001.ROWS");
        assert_eq!(super::super::file_ending(&path), Some(".rows"));
        let label = LabelMap {
            shape: [1, 2, 3],
            data: vec![0, 1, 2, 2, 1, 0],
            geometry: Default::default(),
            is_2d: true,
        };
        super::super::write_label(&path, &label).unwrap();
        assert_eq!(super::super::read_label(&path).unwrap(), label);
        let image = super::super::read_image(&[&path]).unwrap();
        assert_eq!(image.channels[0], vec![0.0, 1.0, 2.0, 2.0, 1.0, 0.0]);

        check_override("RowsIO", ".rows").unwrap();
        check_override("SimpleITKIO", ".nii.gz").unwrap();
        let err = check_override("RowsIO", ".png").unwrap_err().to_string();
        assert!(
            err.contains("not the dataset's file_ending \".png\""),
            "{err}"
        );
        let err = check_override("MhaIO", ".mha").unwrap_err().to_string();
        assert!(err.contains("\"MhaIO\" is not a reader/writer we know") && err.contains("RowsIO"));
        assert!(install("Bad", Box::new(NoDot)).is_err());
    }

    struct NoDot;

    impl ImageIo for NoDot {
        fn endings(&self) -> Vec<String> {
            vec!["rows".into()]
        }
        fn read(&self, _: &Path) -> Result<Image> {
            unreachable!()
        }
        fn encode_image(&self, _: &Image) -> Result<Vec<u8>> {
            unreachable!()
        }
        fn encode_label(&self, _: &LabelMap) -> Result<Vec<u8>> {
            unreachable!()
        }
    }
}
