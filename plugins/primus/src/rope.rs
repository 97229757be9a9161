//! The rotary position embedding (RoPE) of Primus' EVA encoder: timm's `RotaryEmbeddingCat`
//! with `in_pixels=False` over the 3D token grid, and `apply_rot_embed_cat` (interleaved pairs).
//!
//! For a head width `h`, the rotary dimension is `r = h / 1.5` and each of the three axes gets
//! `r / 4` frequencies `1 / 10000^(i / (r/4))`; sine and cosine of position × frequency, each
//! repeated twice (pairs), give `h` values per token for each. Computed in float32 with the
//! reference's operations, in the reference's order, so the tables agree bit for bit.

use nnunet_core::Result;
use nnunet_core::tch::{Device, Kind, Tensor};

/// The `(tokens, 2·head_dim)` table `[sin | cos]` for the token grid `grid` (z, y, x).
pub fn embedding(grid: &[i64], head_dim: i64) -> Result<Tensor> {
    let bands_count = head_dim * 2 / 3 / 4;
    // freq_bands(num_bands, temperature=10000, step=1)
    let exponent = Tensor::f_arange(bands_count, (Kind::Int64, Device::Cpu))?
        .f_to_kind(Kind::Float)?
        .f_div_scalar(bands_count as f64)?;
    let bands = Tensor::f_pow_scalar(10000.0, &exponent)?.f_reciprocal()?;
    // t = arange(s) / feat_shape * ref_feat_shape (the two are equal here)
    let axes: Vec<Tensor> = grid
        .iter()
        .map(|&s| -> Result<Tensor> {
            Ok(Tensor::f_arange(s, (Kind::Int64, Device::Cpu))?
                .f_to_kind(Kind::Float)?
                .f_div_scalar(s as f64)?
                .f_mul_scalar(s as f64)?)
        })
        .collect::<Result<_>>()?;
    let mesh = Tensor::f_meshgrid_indexing(&axes, "ij")?;
    let position = Tensor::f_stack(&mesh, -1)?.f_unsqueeze(-1)?.f_mul(&bands)?;
    let tokens: i64 = grid.iter().product();
    let table = |t: Tensor| -> Result<Tensor> {
        Ok(t.f_reshape([tokens, -1])?
            .f_repeat_interleave_self_int(2, -1, None)?)
    };
    let sin = table(position.f_sin()?)?;
    let cos = table(position.f_cos()?)?;
    Ok(Tensor::f_cat(&[sin, cos], -1)?)
}

/// Rotates `x` (`(…, tokens, head_dim)`) by the table from [`embedding`]:
/// `x·cos + rot(x)·sin`, `rot([x0, x1, x2, x3, …]) = [−x1, x0, −x3, x2, …]`.
pub fn apply(x: &Tensor, table: &Tensor) -> Result<Tensor> {
    let chunks = table.f_chunk(2, -1)?;
    let (sin, cos) = (&chunks[0], &chunks[1]);
    let even = x.f_slice(-1, 0, None, 2)?;
    let odd = x.f_slice(-1, 1, None, 2)?;
    let rotated = Tensor::f_stack(&[odd.f_neg()?, even], -1)?.f_reshape(x.size())?;
    Ok(x.f_mul(cos)?.f_add(&rotated.f_mul(sin)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_sine_then_cosine_in_pairs() {
        let table = embedding(&[2, 3, 4], 66).unwrap();
        assert_eq!(table.size(), [24, 132]);
        // Token 0 is at the origin: sin 0, cos 1.
        assert_eq!(
            table
                .get(0)
                .narrow(0, 0, 66)
                .abs()
                .sum(Kind::Float)
                .double_value(&[]),
            0.0
        );
        assert_eq!(
            table
                .get(0)
                .narrow(0, 66, 66)
                .sum(Kind::Float)
                .double_value(&[]),
            66.0
        );
        // Token 1 is x = 1: the first band (frequency 1) of the x axis is the third block of 11.
        let x_first = table.get(1).double_value(&[2 * 22]);
        assert!((x_first - 1f64.sin()).abs() < 1e-6, "{x_first}");
        assert_eq!(table.get(1).double_value(&[2 * 22 + 1]), x_first);
    }

    #[test]
    fn rotation_keeps_norms() {
        let table = embedding(&[2, 2, 2], 12).unwrap();
        let x = Tensor::randn([1, 1, 8, 12], (Kind::Float, Device::Cpu));
        let y = apply(&x, &table).unwrap();
        let diff = (x.norm() - y.norm()).abs().double_value(&[]);
        assert!(diff < 1e-4, "{diff}");
    }
}
