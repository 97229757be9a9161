//! NIfTI's geometry fields (pixdim, qform, sform), shared by NIfTI-1 and NIfTI-2, turned into
//! spacing, origin and direction as SimpleITK reports them, and back into an sform for writing.
//!
//! Reading: spacing from `pixdim`; direction and origin from the qform when `qform_code > 0`,
//! else the sform (columns normalised), else identity at 0; world coordinates in LPS (NIfTI's
//! RAS with x and y negated); spacing reversed to `(z, y, x)`.

use nnunet_core::Geometry;

/// The geometry fields of a NIfTI header, in `f64` whatever the version stores.
pub(super) struct NiftiAffine {
    /// `pixdim[0..4]`: qfac, then the x, y, z voxel sizes.
    pub pixdim: [f64; 4],
    pub qform_code: i32,
    pub sform_code: i32,
    /// `quatern_b, quatern_c, quatern_d`.
    pub quatern: [f64; 3],
    /// `qoffset_x, qoffset_y, qoffset_z`.
    pub qoffset: [f64; 3],
    /// `srow_x, srow_y, srow_z`.
    pub srow: [[f64; 4]; 3],
}

/// `nifti_quatern_to_mat44`'s rotation (row-major).
fn quaternion_rotation(b: f64, c: f64, d: f64) -> [f64; 9] {
    let mut a = 1.0 - (b * b + c * c + d * d);
    let (mut b, mut c, mut d) = (b, c, d);
    if a < 1e-7 {
        // a 180° rotation: renormalise (b, c, d)
        let norm = (b * b + c * c + d * d).sqrt();
        b /= norm;
        c /= norm;
        d /= norm;
        a = 0.0;
    } else {
        a = a.sqrt();
    }
    [
        a * a + b * b - c * c - d * d,
        2.0 * (b * c - a * d),
        2.0 * (b * d + a * c),
        2.0 * (b * c + a * d),
        a * a + c * c - b * b - d * d,
        2.0 * (c * d - a * b),
        2.0 * (b * d - a * c),
        2.0 * (c * d + a * b),
        a * a + d * d - c * c - b * b,
    ]
}

/// Spacing, origin and direction as SimpleITK reports them.
pub(super) fn geometry_of(header: &NiftiAffine, is_2d: bool) -> Geometry {
    let px = header.pixdim;
    let (sx, sy, sz) = (px[1].abs(), px[2].abs(), px[3].abs());
    let spacing = if is_2d {
        [999.0 * sx.max(sy), sy, sx]
    } else {
        [sz, sy, sx]
    };
    // direction (RAS) and origin (RAS)
    let (mut direction, mut origin) = if header.qform_code > 0 {
        let [b, c, d] = header.quatern;
        let mut r = quaternion_rotation(b, c, d);
        let qfac = if px[0] < 0.0 { -1.0 } else { 1.0 };
        for row in 0..3 {
            r[row * 3 + 2] *= qfac;
        }
        (r, header.qoffset)
    } else if header.sform_code > 0 {
        let rows = header.srow;
        let mut r = [0.0; 9];
        for col in 0..3 {
            let norm = (0..3).map(|row| rows[row][col].powi(2)).sum::<f64>().sqrt();
            for row in 0..3 {
                r[row * 3 + col] = if norm > 0.0 {
                    rows[row][col] / norm
                } else {
                    (row == col) as u8 as f64
                };
            }
        }
        (r, [rows[0][3], rows[1][3], rows[2][3]])
    } else {
        (
            [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0],
        )
    };
    // RAS → LPS
    for v in &mut direction[..6] {
        *v = -*v;
    }
    origin[0] = -origin[0];
    origin[1] = -origin[1];
    // -0.0 → 0.0 so that geometries compare and print cleanly
    for v in direction.iter_mut().chain(origin.iter_mut()) {
        *v += 0.0;
    }
    Geometry {
        spacing,
        origin,
        direction,
        source_header: None,
    }
}

/// The sform rows (RAS) and the x, y, z voxel sizes that describe `geometry` (LPS, spacing
/// `(z, y, x)`); a 2D image gets z size 1.
pub(super) fn sform_of(geometry: &Geometry, is_2d: bool) -> ([[f64; 4]; 3], [f64; 3]) {
    let [_, sy, sx] = geometry.spacing;
    let sz = if is_2d { 1.0 } else { geometry.spacing[0] };
    let spacing = [sx, sy, sz];
    // LPS → RAS: negate world rows x and y.
    let sign = [-1.0, -1.0, 1.0];
    let mut srow = [[0f64; 4]; 3];
    for (row, out) in srow.iter_mut().enumerate() {
        for col in 0..3 {
            out[col] = sign[row] * geometry.direction[row * 3 + col] * spacing[col];
        }
        out[3] = sign[row] * geometry.origin[row];
    }
    (srow, spacing)
}
