//! One module per component kind, each holding both sides of that kind's boundary: the plugin
//! side (`Served` objects wrapping the plain trait object and its constructor) and the host side
//! (a `Foreign*` struct implementing the plain trait by calling across).
//!
//! Adding a trait method is one `match` arm in the kind's `serve` and one method in its host
//! wrapper. Adding a kind is one module like these, one [`AnyCtor`] variant and one arm in each
//! function below.

/// The plugin-side factory of a kind whose constructor takes one argument decoded from JSON:
/// method `build` constructs the component and hands the host an `Exported` object (the
/// kind module's own `Served` wrapper of the component).
///
/// With `, add_method => ForeignType` it also writes the host side's `import`: a constructor
/// registered with `Registry::add_method` that calls `build` across and wraps the object it gets
/// in `ForeignType` (for the kinds whose host wrapper holds nothing but the object).
macro_rules! factory {
    ($ctor:ty, $arg:ty, $what:literal, $add:ident => $foreign:ident) => {
        factory!($ctor, $arg, $what);

        pub(crate) fn import(
            registry: &mut Registry,
            name: &str,
            desc: &str,
            factory: Foreign,
        ) -> Result<()> {
            registry.$add(name, desc, move |argument| {
                let object = factory.call("build", argument, &[])?.take_object()?;
                Ok(Box::new($foreign(object)))
            })
        }
    };
    ($ctor:ty, $arg:ty, $what:literal) => {
        pub(crate) struct Factory(pub $ctor);

        impl Served for Factory {
            const WHAT: &'static str = $what;
            unsafe fn serve(
                this: *mut Self,
                method: &str,
                input: &Incoming,
                out: &Outgoing,
            ) -> Result<()> {
                // SAFETY: constructors are called through `&self` only.
                let this = unsafe { &*this };
                match method {
                    "build" => {
                        let argument: $arg = input.parse()?;
                        out.object(export(Exported((this.0)(&argument)?)));
                        Ok(())
                    }
                    other => Err(unknown_method(Self::WHAT, other)),
                }
            }
        }
    };
}

mod augmentation;
mod dataset;
mod image_io;
mod loss;
mod network;
mod planner;
mod postprocessor;
mod trainer;

use super::client::Foreign;
use super::ffi::ForeignObject;
use crate::registry::AnyCtor;
use crate::{ComponentKind, Registry, Result};

/// Plugin side: the factory object for a constructor from the plugin's own registry.
pub(crate) fn export_factory(ctor: AnyCtor) -> (ComponentKind, ForeignObject) {
    use super::server::export;
    match ctor {
        AnyCtor::Network(c) => (ComponentKind::Network, export(network::Factory(c))),
        AnyCtor::Loss(c) => (ComponentKind::Loss, export(loss::Factory(c))),
        AnyCtor::Trainer(c) => (ComponentKind::Trainer, export(trainer::Factory(c))),
        AnyCtor::Planner(c) => (ComponentKind::Planner, export(planner::Factory(c))),
        AnyCtor::Postprocessor(c) => (
            ComponentKind::Postprocessor,
            export(postprocessor::Factory(c)),
        ),
        AnyCtor::DatasetFormat(c) => (ComponentKind::DatasetFormat, export(dataset::Factory(c))),
        AnyCtor::Augmentation(c) => (
            ComponentKind::Augmentation,
            export(augmentation::Factory(c)),
        ),
        AnyCtor::ImageIo(c) => (ComponentKind::ImageIo, export(image_io::Factory(c))),
    }
}

/// Host side: registers a plugin's factory as a component of `kind`.
pub(crate) fn import(
    registry: &mut Registry,
    kind: ComponentKind,
    name: &str,
    description: &str,
    factory: Foreign,
) -> Result<()> {
    match kind {
        ComponentKind::Network => network::import(registry, name, description, factory),
        ComponentKind::Loss => loss::import(registry, name, description, factory),
        ComponentKind::Trainer => trainer::import(registry, name, description, factory),
        ComponentKind::Planner => planner::import(registry, name, description, factory),
        ComponentKind::Postprocessor => postprocessor::import(registry, name, description, factory),
        ComponentKind::DatasetFormat => dataset::import(registry, name, description, factory),
        ComponentKind::Augmentation => augmentation::import(registry, name, description, factory),
        ComponentKind::ImageIo => image_io::import(registry, name, description, factory),
    }
}

#[cfg(test)]
mod tests {
    //! Components offered across the boundary and taken back in one process: every kind's two
    //! halves meet without a plugin file.

    use super::*;
    use crate::{Case, CaseId, Dataset, DatasetDescriptor, Geometry, Image, LabelMap};
    use crate::{Postprocessor, Trainer, TrainingOptions};
    use tch::{Device, Kind, Tensor, nn};

    fn loopback(source: &Registry) -> Registry {
        let mut host = Registry::empty();
        for (name, description, ctor) in source.constructors() {
            let (kind, factory) = export_factory(ctor);
            import(&mut host, kind, &name, &description, Foreign::new(factory)).unwrap();
        }
        host
    }

    /// Adds one to every voxel, and writes the number of probability channels into voxel 0.
    struct Bump;
    impl Postprocessor for Bump {
        fn apply(&self, map: &mut LabelMap, probabilities: Option<&Tensor>) -> Result<()> {
            map.data.iter_mut().for_each(|v| *v += 1);
            map.data[0] = probabilities.map_or(-1, |p| p.size()[0] as i16);
            Ok(())
        }
    }

    struct OneCase(DatasetDescriptor, Vec<CaseId>);
    impl Dataset for OneCase {
        fn descriptor(&self) -> &DatasetDescriptor {
            &self.0
        }
        fn cases(&self) -> &[CaseId] {
            &self.1
        }
        fn load(&self, case: &str) -> Result<Case> {
            let geometry = Geometry::default();
            let image = Image {
                shape: [1, 2, 2],
                channels: vec![vec![0.5; 4], vec![1.5; 4]],
                geometry: geometry.clone(),
                is_2d: true,
            };
            let label = LabelMap {
                shape: [1, 2, 2],
                data: vec![0, 1, 1, 0],
                geometry,
                is_2d: true,
            };
            Ok(Case {
                id: case.to_string(),
                image,
                label: Some(label),
            })
        }
    }

    struct Preset;
    impl Trainer for Preset {
        fn configure(&self, options: &mut TrainingOptions) -> Result<()> {
            options.epochs = 7;
            Ok(())
        }
    }

    struct Linear(Tensor);
    impl crate::Network for Linear {
        fn forward_t(&self, x: &Tensor, _: bool) -> Result<Vec<Tensor>> {
            Ok(vec![x * &self.0, x.shallow_clone()])
        }
        fn set_deep_supervision(&mut self, _: bool) -> Result<()> {
            Ok(())
        }
        fn head_parameter_prefixes(&self) -> Vec<String> {
            vec!["net.w".into()]
        }
    }

    fn source() -> Registry {
        let mut r = Registry::empty();
        r.add_postprocessor("bump", "", |_| Ok(Box::new(Bump)))
            .unwrap();
        r.add_trainer("preset", "", |_| Ok(Box::new(Preset)))
            .unwrap();
        r.add_network("linear", "", |path, _| {
            Ok(Box::new(Linear(path.ones("w", &[1]))))
        })
        .unwrap();
        r.add_dataset_format("one", "", |_| {
            let descriptor = serde_json::from_value(serde_json::json!({
                "channel_names": {"0": "a", "1": "b"}, "labels": {"background": 0, "x": 1},
                "numTraining": 1, "file_ending": ".x"
            }))
            .map_err(|e| crate::Error::Invalid(e.to_string()))?;
            Ok(Box::new(OneCase(descriptor, vec!["c1".into()])))
        })
        .unwrap();
        r
    }

    #[test]
    fn every_kind_round_trips_through_the_boundary() {
        let host = loopback(&source());
        // Postprocessor: voxels and probabilities cross.
        let post = (host.postprocessor("bump").unwrap().make)(&serde_json::Value::Null).unwrap();
        let mut map = LabelMap {
            shape: [1, 1, 3],
            data: vec![5, 6, 7],
            geometry: Geometry::default(),
            is_2d: true,
        };
        let probabilities = Tensor::zeros([4, 1, 1, 3], (Kind::Float, Device::Cpu));
        post.apply(&mut map, Some(&probabilities)).unwrap();
        assert_eq!(map.data, [4, 7, 8]);
        // Trainer: options go and come back as JSON.
        let trainer = (host.trainer("preset").unwrap().make)(&serde_json::Value::Null).unwrap();
        let mut options = TrainingOptions::default();
        trainer.configure(&mut options).unwrap();
        assert_eq!(options.epochs, 7);
        assert!((trainer.learning_rate(&options, 0).unwrap() - options.initial_lr).abs() < 1e-12);
        // Dataset: descriptor and cases cached, a case's channels and labels cross.
        let dataset =
            (host.dataset_format("one").unwrap().make)(std::path::Path::new("/x")).unwrap();
        assert_eq!(dataset.cases(), ["c1"]);
        assert_eq!(dataset.descriptor().num_channels(), 2);
        let case = dataset.load("c1").unwrap();
        assert_eq!(case.image.channels, [vec![0.5; 4], vec![1.5; 4]]);
        assert_eq!(case.label.unwrap().data, [0, 1, 1, 0]);
    }

    #[test]
    fn a_network_hands_its_parameters_to_the_hosts_store() {
        let host = loopback(&source());
        let store = nn::VarStore::new(Device::Cpu);
        let net = host
            .build_network("linear", &(store.root() / "net"), &spec())
            .unwrap();
        assert_eq!(net.head_parameter_prefixes(), ["net.w"]);
        let w = store.variables().remove("net.w").expect("adopted as net.w");
        assert!(w.requires_grad());
        // The host's tensor is the plugin's: changing it changes the forward pass.
        let _ = tch::no_grad(|| w.shallow_clone().fill_(3.0));
        let x = Tensor::from_slice(&[2.0f32]);
        let y = net.forward_t(&x, true).unwrap();
        assert_eq!(y.len(), 2);
        assert_eq!(y[0].double_value(&[0]), 6.0);
    }

    fn spec() -> crate::NetworkSpec {
        let architecture = serde_json::from_value(serde_json::json!({
            "network_class_name": "x",
            "arch_kwargs": {
                "n_stages": 1, "features_per_stage": [1], "conv_op": "", "kernel_sizes": [],
                "strides": [], "n_conv_per_stage_decoder": [], "conv_bias": true,
                "norm_op": "", "norm_op_kwargs": {}, "dropout_op": null,
                "dropout_op_kwargs": null, "nonlin": "", "nonlin_kwargs": null
            }
        }))
        .unwrap();
        crate::NetworkSpec {
            spatial_dims: 2,
            in_channels: 1,
            num_outputs: 1,
            architecture,
            deep_supervision: true,
            options: serde_json::Value::Null,
            patch_size: Vec::new(),
        }
    }
}
