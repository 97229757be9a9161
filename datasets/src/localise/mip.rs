//! The maximum-intensity projection of a 3D scan onto a frontal or sagittal plane, resampled to
//! square pixels of [`MipOptions::pixel_mm`] (1 mm) with an intensity window.
//!
//! Arrays are `(z, y, x)`. The frontal MIP projects along `y` (front to back) and shows
//! `(z, x)`; the sagittal MIP projects along `x` and shows `(z, y)`. Either way the MIP's rows
//! are the scan's axial positions: row `r` covers `[r, r + 1)` pixels of `pixel_mm` from the
//! volume's first slice edge, so a row is a slice position at 1 mm.
//!
//! The MIP is a 2D image (`z = 1`, `is_2d`) whose geometry keeps the world positions: its origin
//! is `(world coordinate of column 0, world z of row 0, 0)` and its direction is diagonal, the
//! row cosine being the sign of the scan's z axis in world z. [`row_position_mm`] reads a row's
//! world z back.

use nnunet_core::{Error, Geometry, Image, Result};

/// The projection plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plane {
    /// Projects along `y` (anterior–posterior): shows `(z, x)`.
    Frontal,
    /// Projects along `x` (left–right): shows `(z, y)`.
    Sagittal,
}

impl std::str::FromStr for Plane {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "frontal" | "coronal" => Ok(Plane::Frontal),
            "sagittal" => Ok(Plane::Sagittal),
            other => Err(Error::Invalid(format!(
                "MIP plane {other:?}: expected frontal or sagittal"
            ))),
        }
    }
}

/// How to project.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MipOptions {
    pub plane: Plane,
    /// Pixel size of the MIP in mm (1 mm by default).
    pub pixel_mm: f64,
    /// Intensities are clipped to `[low, high]` (CT: HU `[100, 1500]`); `None`: no window.
    pub window: Option<(f32, f32)>,
}

impl Default for MipOptions {
    fn default() -> Self {
        MipOptions {
            plane: Plane::Frontal,
            pixel_mm: 1.0,
            window: Some((100.0, 1500.0)),
        }
    }
}

/// Continuous source index sampled by output pixel `i` (pixel centres), clamped to the array.
fn source_index(i: usize, out_mm: f64, in_mm: f64, n: usize) -> f64 {
    ((i as f64 + 0.5) * out_mm / in_mm - 0.5).clamp(0.0, (n - 1) as f64)
}

/// Number of output pixels covering `n` source pixels of `in_mm` at `out_mm`.
fn output_len(n: usize, in_mm: f64, out_mm: f64) -> usize {
    ((n as f64 * in_mm / out_mm).round() as usize).max(1)
}

/// Bilinear resampling of a `(rows, cols)` array.
fn resample(
    plane: &[f32],
    rows: usize,
    cols: usize,
    out: (usize, usize),
    map: impl Fn(usize, usize) -> (f64, f64),
) -> Vec<f32> {
    let mut data = Vec::with_capacity(out.0 * out.1);
    for r in 0..out.0 {
        for c in 0..out.1 {
            let (fr, fc) = map(r, c);
            let (r0, c0) = (fr.floor() as usize, fc.floor() as usize);
            let (r1, c1) = ((r0 + 1).min(rows - 1), (c0 + 1).min(cols - 1));
            let (wr, wc) = ((fr - r0 as f64) as f32, (fc - c0 as f64) as f32);
            let at = |r: usize, c: usize| plane[r * cols + c];
            let top = at(r0, c0) * (1.0 - wc) + at(r0, c1) * wc;
            let bottom = at(r1, c0) * (1.0 - wc) + at(r1, c1) * wc;
            data.push(top * (1.0 - wr) + bottom * wr);
        }
    }
    data
}

/// The maximum of channel 0 along the projection axis: `(rows = z, cols)`.
fn project(image: &Image, plane: Plane) -> (Vec<f32>, usize, usize) {
    let [nz, ny, nx] = image.shape;
    let v = &image.channels[0];
    let cols = match plane {
        Plane::Frontal => nx,
        Plane::Sagittal => ny,
    };
    let mut out = vec![f32::NEG_INFINITY; nz * cols];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let c = if plane == Plane::Frontal { x } else { y };
                let o = &mut out[z * cols + c];
                *o = o.max(v[(z * ny + y) * nx + x]);
            }
        }
    }
    (out, nz, cols)
}

/// The MIP of a 3D image (channel 0) as a 2D image of `pixel_mm` pixels.
pub fn mip(image: &Image, options: &MipOptions) -> Result<Image> {
    let [nz, ny, nx] = image.shape;
    if image.is_2d || nz < 2 {
        return Err(Error::Invalid(format!(
            "a MIP needs a 3D volume, got shape {:?}",
            image.shape
        )));
    }
    if image.channels.is_empty() || ny == 0 || nx == 0 {
        return Err(Error::Invalid("a MIP needs an image with voxels".into()));
    }
    if options.pixel_mm.is_nan() || options.pixel_mm <= 0.0 {
        return Err(Error::Invalid(format!(
            "MIP pixel size {} mm must be positive",
            options.pixel_mm
        )));
    }
    let (plane, rows, cols) = project(image, options.plane);
    let g = &image.geometry;
    let (sz, sc) = (
        g.spacing[0],
        g.spacing[if options.plane == Plane::Frontal {
            2
        } else {
            1
        }],
    );
    let mm = options.pixel_mm;
    let out = (output_len(rows, sz, mm), output_len(cols, sc, mm));
    let mut data = resample(&plane, rows, cols, out, |r, c| {
        (source_index(r, mm, sz, rows), source_index(c, mm, sc, cols))
    });
    if let Some((low, high)) = options.window {
        data.iter_mut().for_each(|v| *v = v.clamp(low, high));
    }
    Ok(Image {
        shape: [1, out.0, out.1],
        channels: vec![data],
        geometry: mip_geometry(g, options),
        is_2d: true,
    })
}

/// The world point of continuous source index `(k, j, i)` (array `z, y, x`).
fn world(g: &Geometry, index: [f64; 3]) -> [f64; 3] {
    // image (i, j, k) = array (x, y, z)
    let offsets = [
        index[2] * g.spacing[2],
        index[1] * g.spacing[1],
        index[0] * g.spacing[0],
    ];
    std::array::from_fn(|w| {
        g.origin[w]
            + (0..3)
                .map(|a| g.direction[w * 3 + a] * offsets[a])
                .sum::<f64>()
    })
}

/// The MIP's geometry: see the module doc.
fn mip_geometry(g: &Geometry, options: &MipOptions) -> Geometry {
    let mm = options.pixel_mm;
    let (col_axis, col_world) = match options.plane {
        Plane::Frontal => (2, 0),
        Plane::Sagittal => (1, 1),
    };
    // pixel (0, 0)'s centre in source indices
    let k0 = 0.5 * mm / g.spacing[0] - 0.5;
    let c0 = 0.5 * mm / g.spacing[col_axis] - 0.5;
    let mut index = [k0, 0.0, 0.0];
    index[col_axis] = c0;
    let p = world(g, index);
    let sign = |w: usize, image_axis: usize| {
        if g.direction[w * 3 + image_axis] < 0.0 {
            -1.0
        } else {
            1.0
        }
    };
    let image_col = if col_axis == 2 { 0 } else { 1 };
    Geometry {
        spacing: [999.0 * mm, mm, mm],
        origin: [p[col_world], p[2], 0.0],
        direction: [
            sign(col_world, image_col),
            0.0,
            0.0,
            0.0,
            sign(2, 2),
            0.0,
            0.0,
            0.0,
            1.0,
        ],
        source_header: None,
    }
}

/// World z (mm) of a (continuous) MIP row.
pub fn row_position_mm(mip: &Geometry, row: f64) -> f64 {
    mip.origin[1] + mip.direction[4] * row * mip.spacing[1]
}
