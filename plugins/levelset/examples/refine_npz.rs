//! Refines one probability map outside `nnunet`, for measurements (docs/levelset.md): reads
//! `probabilities` `(C, z, y, x)` float32 from an npz, takes its argmax as the prediction, runs
//! `levelset` with the given options and writes `argmax` and `refined` (int16, `(z, y, x)`) to
//! another npz, printing the refinement's wall time.
//!
//! `cargo run --release --example refine_npz -- IN.npz OUT.npz 2d|3d SZ,SY,SX '{"mu": 0.5}'`

use nnunet_core::serde_json::Value;
use nnunet_core::tch::{Kind, Tensor};
use nnunet_core::{Geometry, LabelMap, Postprocessor};
use nnunet_plugin_levelset::{LevelSet, Options};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, dims, spacing, options] = &args[..] else {
        return Err("usage: refine_npz IN.npz OUT.npz 2d|3d SZ,SY,SX OPTIONS_JSON".into());
    };
    let spacing: Vec<f64> = spacing
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let spacing: [f64; 3] = spacing.try_into().map_err(|_| "spacing: three numbers")?;
    let options: Value = nnunet_core::serde_json::from_str(options)?;
    let post = LevelSet {
        options: Options::parse(&options)?,
    };
    let probabilities = Tensor::read_npz(input)?
        .into_iter()
        .find(|(name, _)| name == "probabilities")
        .ok_or("no array named probabilities")?
        .1
        .to_kind(Kind::Float);
    let size = probabilities.size();
    let shape = [size[1], size[2], size[3]].map(|s| s as usize);
    let argmax = probabilities.argmax(0, false).to_kind(Kind::Int16);
    let mut seg = LabelMap {
        shape,
        data: Vec::<i16>::try_from(argmax.flatten(0, -1))?,
        geometry: Geometry {
            spacing,
            ..Default::default()
        },
        is_2d: dims == "2d",
    };
    let start = Instant::now();
    post.apply(&mut seg, Some(&probabilities))?;
    println!("{input}: refined in {:.3} s", start.elapsed().as_secs_f64());
    let refined = Tensor::from_slice(&seg.data).reshape(argmax.size());
    Tensor::write_npz(&[("argmax", &argmax), ("refined", &refined)], output)?;
    Ok(())
}
