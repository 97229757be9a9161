//! `nnunet overlay`: one PNG per case to look at instead of read — the image (first channel,
//! windowed to its 0.5–99.5 percentiles) with coloured label contours, ground truth and
//! prediction side by side (prediction alone when there is no ground truth).
//!
//! A 3D case shows one axial slice (array axis 0): the one with the most foreground in the
//! reference (the prediction when there is none), or the middle one. Small images are enlarged
//! by an integer factor (nearest neighbour) so the long side is at least [`MIN_SIDE`] pixels;
//! contours are traced at that resolution, one pixel wide (two once a voxel spans four or more
//! pixels), inside the label. Pixels are drawn square (the voxel spacing is not applied).

use nnunet_core::{Error, Image, LabelMap, Result, atomic};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Which slice of a 3D case to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SliceChoice {
    /// The slice with the most foreground voxels in the reference (or prediction).
    #[default]
    MaxForeground,
    /// The middle slice.
    Middle,
}

impl std::str::FromStr for SliceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "max-foreground" => Ok(SliceChoice::MaxForeground),
            "middle" => Ok(SliceChoice::Middle),
            other => Err(Error::Invalid(format!(
                "slice {other:?}: use middle or max-foreground"
            ))),
        }
    }
}

/// Panels are enlarged until their long side reaches this many pixels.
pub const MIN_SIDE: usize = 256;
/// White gap between the two panels, in pixels.
pub const GAP: u32 = 8;

/// The contour colour of label `l` (≥ 1), cycling through eight distinct colours.
pub fn label_colour(label: i16) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
    ];
    PALETTE[(label.max(1) as usize - 1) % PALETTE.len()]
}

/// The enlargement factor for a `h × w` slice.
pub fn scale_for(h: usize, w: usize) -> usize {
    MIN_SIDE.div_ceil(h.max(w).max(1)).max(1)
}

/// The slice index shown for a case of `depth` slices.
fn choose_slice(shape: [usize; 3], labels: &[i16], choice: SliceChoice) -> usize {
    let depth = shape[0];
    if depth <= 1 {
        return 0;
    }
    match choice {
        SliceChoice::Middle => depth / 2,
        SliceChoice::MaxForeground => {
            let plane = shape[1] * shape[2];
            let counts: Vec<usize> = labels
                .chunks(plane)
                .map(|s| s.iter().filter(|&&v| v > 0).count())
                .collect();
            let best = counts.iter().copied().max().unwrap_or(0);
            if best == 0 {
                depth / 2
            } else {
                counts.iter().position(|&c| c == best).unwrap_or(depth / 2)
            }
        }
    }
}

/// Grey values of one slice, windowed to the 0.5 and 99.5 percentiles.
fn grey(values: &[f32]) -> Vec<u8> {
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return vec![0; values.len()];
    }
    sorted.sort_by(f32::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.005), at(0.995));
    let span = if hi > lo { hi - lo } else { 1.0 };
    values
        .iter()
        .map(|&v| {
            if v.is_finite() {
                (((v - lo) / span).clamp(0.0, 1.0) * 255.0).round() as u8
            } else {
                0
            }
        })
        .collect()
}

/// One panel: the grey slice enlarged by `scale`, with the contours of `labels` (same slice).
fn panel(grey: &[u8], labels: Option<&[i16]>, h: usize, w: usize, scale: usize) -> image::RgbImage {
    let (ph, pw) = (h * scale, w * scale);
    // Contours are two pixels wide once a voxel spans four or more pixels.
    let thickness = if scale >= 4 { 2 } else { 1 };
    let mut out = image::RgbImage::new(pw as u32, ph as u32);
    let label_at = |y: usize, x: usize| labels.map_or(0, |l| l[(y / scale) * w + x / scale]);
    for y in 0..ph {
        for x in 0..pw {
            let g = grey[(y / scale) * w + x / scale];
            let l = label_at(y, x);
            let edge = l > 0
                && (1..=thickness).any(|d| {
                    y < d
                        || x < d
                        || y + d >= ph
                        || x + d >= pw
                        || label_at(y - d, x) != l
                        || label_at(y + d, x) != l
                        || label_at(y, x - d) != l
                        || label_at(y, x + d) != l
                });
            let px = if edge { label_colour(l) } else { [g, g, g] };
            out.put_pixel(x as u32, y as u32, image::Rgb(px));
        }
    }
    out
}

/// The overlay of one case: `[reference | prediction]` (or the prediction alone).
pub fn render(
    image: &Image,
    reference: Option<&LabelMap>,
    prediction: &LabelMap,
    choice: SliceChoice,
) -> Result<image::RgbImage> {
    for (what, shape) in std::iter::once(("prediction", prediction.shape))
        .chain(reference.map(|r| ("reference", r.shape)))
    {
        if shape != image.shape {
            return Err(Error::Invalid(format!(
                "{what} shape {shape:?} differs from the image's {:?}",
                image.shape
            )));
        }
    }
    let first = image
        .channels
        .first()
        .ok_or_else(|| Error::Invalid("image has no channels".into()))?;
    let [_, h, w] = image.shape;
    let z = choose_slice(image.shape, &reference.unwrap_or(prediction).data, choice);
    let plane = h * w;
    let range = z * plane..(z + 1) * plane;
    let grey = grey(&first[range.clone()]);
    let scale = scale_for(h, w);
    let right = panel(&grey, Some(&prediction.data[range.clone()]), h, w, scale);
    let Some(reference) = reference else {
        return Ok(right);
    };
    let left = panel(&grey, Some(&reference.data[range]), h, w, scale);
    let (pw, ph) = left.dimensions();
    let mut out = image::RgbImage::from_pixel(2 * pw + GAP, ph, image::Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, &left, 0, 0);
    image::imageops::replace(&mut out, &right, i64::from(pw + GAP), 0);
    Ok(out)
}

/// Writes a PNG atomically.
pub fn write_png(path: &Path, img: &image::RgbImage) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::invalid_file(path, format!("cannot encode PNG: {e}")))?;
    atomic::write_bytes(path, &bytes)
}

/// One PNG per prediction in `predictions` (files ending in `file_ending`), from the image of
/// the same case in `images` (`CASE_XXXX<ending>`) and, when given, the reference of the same
/// name in `references`. Returns the written files, sorted.
pub fn overlay_folder(
    images: &Path,
    references: Option<&Path>,
    predictions: &Path,
    output: &Path,
    file_ending: &str,
    choice: SliceChoice,
) -> Result<Vec<PathBuf>> {
    let cases = nnunet_datasets::raw::cases_in_folder(images, file_ending)?;
    let mut names: Vec<String> = std::fs::read_dir(predictions)
        .map_err(|e| Error::io(predictions, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(file_ending) && !n.starts_with('.'))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::invalid_file(
            predictions,
            format!("no predictions ending in {file_ending}"),
        ));
    }
    let unpredicted: Vec<&String> = cases
        .keys()
        .filter(|id| !names.contains(&format!("{id}{file_ending}")))
        .collect();
    if !unpredicted.is_empty() {
        eprintln!(
            "warning: {} image case(s) in {} have no prediction in {}, no overlay drawn: {}",
            unpredicted.len(),
            images.display(),
            predictions.display(),
            unpredicted
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // On failure, what this run added to `output` is removed again.
    let guard = atomic::OutputGuard::create(output)?;
    let written = names
        .par_iter()
        .map(|name| {
            let id = &name[..name.len() - file_ending.len()];
            let channels = cases.get(id).ok_or_else(|| {
                Error::invalid_file(images, format!("no image {id}_0000{file_ending}"))
            })?;
            let image = nnunet_datasets::io::read_image(channels)?;
            let pred_path = predictions.join(name);
            let prediction = nnunet_datasets::io::read_label(&pred_path)?;
            let reference = match references {
                Some(dir) => Some(nnunet_datasets::io::read_label(&dir.join(name))?),
                None => None,
            };
            let img = render(&image, reference.as_ref(), &prediction, choice)
                .map_err(|e| Error::invalid_file(&pred_path, e.to_string()))?;
            let path = output.join(format!("{id}.png"));
            write_png(&path, &img)?;
            Ok(path)
        })
        .collect::<Result<Vec<_>>>()?;
    guard.commit();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_choice_and_scale() {
        // 3 slices of 2x2: slice 2 has the most foreground.
        let labels = [0, 0, 0, 0, 1, 0, 0, 0, 1, 2, 2, 0];
        assert_eq!(
            choose_slice([3, 2, 2], &labels, SliceChoice::MaxForeground),
            2
        );
        assert_eq!(choose_slice([3, 2, 2], &labels, SliceChoice::Middle), 1);
        assert_eq!(
            choose_slice([1, 2, 2], &labels[..4], SliceChoice::Middle),
            0
        );
        assert_eq!(scale_for(36, 50), 6);
        assert_eq!(scale_for(512, 300), 1);
        assert_eq!(
            "middle".parse::<SliceChoice>().unwrap(),
            SliceChoice::Middle
        );
        assert!("top".parse::<SliceChoice>().is_err());
    }

    #[test]
    fn grey_windows_to_percentiles() {
        let values: Vec<f32> = (0..1000).map(|v| v as f32).collect();
        let g = grey(&values);
        assert_eq!(g[0], 0);
        assert_eq!(g[999], 255);
        assert!(g[500] > 120 && g[500] < 135);
    }
}
