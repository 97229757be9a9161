//! `nnunet convert dicom`: one CT/MR DICOM series per case → `CASE_0000.nii.gz` in an
//! nnU-Net raw `imagesTr`/`imagesTs` folder, with the geometry SimpleITK's
//! `ImageSeriesReader` reports (LPS world):
//!
//! * direction: the columns are ImageOrientationPatient's row and column cosines and their
//!   cross product (the slice normal), so oblique series stay oblique;
//! * slices ordered by ImagePositionPatient projected on the normal, ascending (file names and
//!   InstanceNumber play no part); origin = the first slice's ImagePositionPatient;
//! * spacing: PixelSpacing in-plane (rows, then columns), z = the mean distance between
//!   neighbouring slices along the normal (SpacingBetweenSlices/SliceThickness only for a
//!   single slice);
//! * values: RescaleSlope × stored value + RescaleIntercept (Hounsfield units for CT), written
//!   as float32.
//!
//! **Multi-frame files** (Enhanced CT/MR, and plain multi-frame images with more than one
//! frame, NumberOfFrames): each frame is a slice, placed and rescaled by its own attributes
//! (`PerFrameFunctionalGroupsSequence`, falling back to `SharedFunctionalGroupsSequence`, then
//! the top level: [`frames`]) and ordered along the normal with the other slices exactly as
//! single-frame files are; a series may mix both.
//!
//! **Compressed pixel data** is decoded by dicom-rs's `dicom-pixeldata` with its pure-Rust
//! codecs: JPEG baseline and extended with 8-bit samples, JPEG lossless up to 16 bits
//! (jpeg-decoder, which refuses 12-bit DCT JPEG: an error naming the file), RLE lossless, and
//! JPEG 2000 (lossless and lossy, through `jpeg2k` on `openjp2`, the pure-Rust port of
//! OpenJPEG: no system library). JPEG-LS, JPEG XL and the rest are refused naming the file and
//! the transfer syntax, with the commands that decompress them: dicom-rs's JPEG-LS codec binds
//! CharLS (a C++ library); its JPEG XL decoder is pure Rust (`jxl-oxide`) but was not tried
//! here for lack of time. A decoder error or panic on corrupt or truncated data is an error
//! naming the file.
//!
//! Refused, naming the files: several series in one case (unless `split_series`: then series
//! without any pixel data — SR, RTSTRUCT — are skipped, and when several image series remain,
//! each becomes its own case `CASE_sN`, N its SeriesNumber), files without pixel data or
//! ImagePositionPatient, differing orientations, pixel spacings or sizes, two slices at one
//! position, uneven gaps (a missing slice) and stacks not along the normal (gantry tilt),
//! colour images, multi-frame files whose frames cannot be placed.
//!
//! **Crates.** dicom-rs's `dicom-object` 0.10 (no default features) parses the files, in every
//! transfer syntax; native (uncompressed) samples — implicit and explicit VR little endian,
//! explicit VR big endian; BitsAllocated 8/16/32, BitsStored/HighBit masking, signed samples —
//! are read in [`slice`] without a copy of the whole file per frame, and the same sample
//! interpretation and per-frame rescale apply to what `dicom-pixeldata` 0.10 (no default
//! features; `jpeg`, `rle`, `openjp2`) decodes from encapsulated data. Added clean build
//! time of this crate (`cargo build --release -p nnunet-datasets --timings`, on the shared,
//! loaded 2-core development machine), all in new compile units that the crate waits for:
//! JPEG and RLE — dicom-pixeldata 8.9 s and jpeg-encoder 2.1 s (jpeg-decoder, snafu, byteorder
//! and num-traits were in the build already; the adapters compile inside
//! dicom-transfer-syntax-registry, 27–29 s with them, which the build had too); JPEG 2000 —
//! openjp2 21.8 s, sprintf 5.5 s, jpeg2k 4.3 s. About 43 s of CPU in all, off the critical
//! path of a clean build: there dicom-pixeldata was done at 352 s, while nnunet-datasets waited
//! for torch-sys's build script and nnunet-core until 693 s.

mod frames;
mod series;
mod slice;

use series::Series;

use nnunet_core::{Error, Image, Result};
use rayon::prelude::*;
use slice::Slice;
use std::path::{Path, PathBuf};

/// What `convert_dicom` does besides converting.
#[derive(Clone, Debug, Default)]
pub struct DicomOptions {
    /// The channel suffix: `CASE_{channel:04}.nii.gz`.
    pub channel: u32,
    /// Skip series without pixel data, and convert each of several image series as its own
    /// case `CASE_sN` (N its SeriesNumber), instead of refusing the folder.
    pub split_series: bool,
    /// Replace output files that already exist.
    pub overwrite: bool,
}

/// One written case.
#[derive(Clone, Debug)]
pub struct ConvertedCase {
    pub case: String,
    pub file: PathBuf,
    /// Slices it was made from (files, or frames of multi-frame files).
    pub slices: usize,
    pub shape: [usize; 3],
    pub spacing: [f64; 3],
    pub series_description: String,
}

/// Converts the DICOM series under `input` into `output` (created if missing). `input` holding
/// DICOM files itself is one case named after the folder; otherwise each sub-folder holding
/// DICOM files (at any depth) is a case named after the sub-folder. Every case is written to a
/// staging folder first and moved into `output` only when all converted, so a failure leaves
/// `output` as it was.
pub fn convert_dicom(
    input: &Path,
    output: &Path,
    options: &DicomOptions,
) -> Result<Vec<ConvertedCase>> {
    let cases = find_cases(input)?;
    let staging = Staging::create(output)?;
    let mut converted: Vec<ConvertedCase> = Vec::new();
    for (case, dir, files) in cases {
        let series = read_series_files(&dir, &files)?;
        for (name, series) in case_series(&case, &dir, series, options.split_series)? {
            let file_name = format!("{name}_{:04}.nii.gz", options.channel);
            let final_path = output.join(&file_name);
            if converted.iter().any(|c| c.file == final_path) {
                return Err(Error::invalid_file(
                    &dir,
                    format!("two series would both be written as {file_name}"),
                ));
            }
            if final_path.exists() && !options.overwrite {
                return Err(Error::invalid_file(
                    &final_path,
                    "exists already; pass --force to replace it",
                ));
            }
            let description = series.description.clone();
            let slices = series.slices.len();
            let image = series.into_image(&dir)?;
            crate::io::write_image(&staging.dir.join(&file_name), &image)?;
            converted.push(ConvertedCase {
                case: name,
                file: final_path,
                slices,
                shape: image.shape,
                spacing: image.geometry.spacing,
                series_description: description,
            });
        }
    }
    staging.finish(&converted)?;
    Ok(converted)
}

/// Reads the one series of the DICOM files under `folder` (at any depth) as a volume;
/// refuses a folder holding several series.
pub fn read_dicom_series(folder: &Path) -> Result<Image> {
    let files = dicom_files_under(folder)?;
    if files.is_empty() {
        return Err(Error::invalid_file(folder, "no DICOM files found"));
    }
    let series = read_series_files(folder, &files)?;
    let mut named = case_series("case", folder, series, false)?;
    named.remove(0).1.into_image(folder)
}

/// The series of a case: its one series, or with `split` each image series as `CASE_sN`.
fn case_series(
    case: &str,
    dir: &Path,
    series: Vec<Series>,
    split: bool,
) -> Result<Vec<(String, Series)>> {
    if series.len() == 1 {
        return Ok(series.into_iter().map(|s| (case.to_string(), s)).collect());
    }
    if !split {
        let listed: Vec<String> = series.iter().map(|s| s.describe(dir)).collect();
        return Err(Error::invalid_file(
            dir,
            format!(
                "holds {} series, a case must hold one (pass --split-series to convert each \
                 as its own case): {}",
                series.len(),
                listed.join("; ")
            ),
        ));
    }
    let (images, others): (Vec<Series>, Vec<Series>) =
        series.into_iter().partition(|s| !s.is_non_image());
    for s in &others {
        tracing::warn!(
            "{}: skipping {} (no pixel data)",
            dir.display(),
            s.describe(dir)
        );
    }
    if images.len() == 1 {
        return Ok(images.into_iter().map(|s| (case.to_string(), s)).collect());
    }
    Ok(images
        .into_iter()
        .enumerate()
        .map(|(index, s)| {
            let n = s.number.unwrap_or(index as i64 + 1);
            (format!("{case}_s{n}"), s)
        })
        .collect())
}

/// Reads the files (in parallel) and groups their slices by series; the first unreadable
/// file in name order is the error.
fn read_series_files(dir: &Path, files: &[PathBuf]) -> Result<Vec<Series>> {
    let read: Vec<Result<Vec<Slice>>> = files.par_iter().map(|f| Slice::read(f)).collect();
    let slices: Vec<Slice> = read
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if slices.is_empty() {
        return Err(Error::invalid_file(dir, "no DICOM files found"));
    }
    Ok(series::group(slices))
}

/// `(case name, folder, DICOM files)` for each case under `input`.
fn find_cases(input: &Path) -> Result<Vec<(String, PathBuf, Vec<PathBuf>)>> {
    if !input.is_dir() {
        return Err(Error::invalid_file(input, "not a folder"));
    }
    let folder_name = |dir: &Path| {
        dir.canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "case".into())
    };
    let (files, dirs) = visible_entries(input)?;
    if files.iter().any(|f| is_dicom(f)) {
        let all = dicom_files_under(input)?;
        return Ok(vec![(folder_name(input), input.to_path_buf(), all)]);
    }
    let mut cases = Vec::new();
    for dir in dirs {
        let files = dicom_files_under(&dir)?;
        if files.is_empty() {
            tracing::warn!("{}: no DICOM files, skipped", dir.display());
            continue;
        }
        cases.push((folder_name(&dir), dir, files));
    }
    if cases.is_empty() {
        return Err(Error::invalid_file(
            input,
            "no DICOM files found, neither in the folder nor in its sub-folders (files must \
             start with the DICOM preamble and `DICM`)",
        ));
    }
    Ok(cases)
}

/// The DICOM files under `dir` at any depth, sorted; other files (and `DICOMDIR`) skipped.
fn dicom_files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let (files, dirs) = visible_entries(dir)?;
    let mut found = Vec::new();
    let mut skipped = 0;
    for file in files {
        let is_index = file
            .file_name()
            .is_some_and(|n| n.eq_ignore_ascii_case("DICOMDIR"));
        if !is_index && is_dicom(&file) {
            found.push(file);
        } else {
            skipped += 1;
        }
    }
    if skipped > 0 {
        tracing::warn!("{}: {skipped} files are not DICOM, skipped", dir.display());
    }
    for sub in dirs {
        found.extend(dicom_files_under(&sub)?);
    }
    Ok(found)
}

/// Files and sub-folders of `dir`, sorted, hidden ones left out.
fn visible_entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    Ok(entries.into_iter().partition(|p| !p.is_dir()))
}

/// A DICOM Part 10 file: `DICM` after the 128-byte preamble.
fn is_dicom(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head[128..] == b"DICM"
}

/// A hidden folder inside `output` that the cases are written to, moved into `output` file by
/// file once all are written; removed on drop.
struct Staging {
    dir: PathBuf,
    /// `output`, when this conversion created it: removed again if nothing was written.
    created: Option<PathBuf>,
}

impl Staging {
    fn create(output: &Path) -> Result<Staging> {
        let created = (!output.exists()).then(|| output.to_path_buf());
        let dir = output.join(format!(".dicom-partial-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging { dir, created })
    }

    fn finish(mut self, cases: &[ConvertedCase]) -> Result<()> {
        self.created = None;
        for case in cases {
            let name = case.file.file_name().unwrap_or_default();
            std::fs::rename(self.dir.join(name), &case.file)
                .map_err(|e| Error::io(&case.file, e))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(output) = &self.created {
            // only an empty folder: remove_dir refuses anything else
            let _ = std::fs::remove_dir(output);
        }
    }
}
