//! The [`Registry`]: component name → constructor, for each kind of component.
//!
//! Built-in crates register through `inventory` ([`BuiltIn`]) and are called directly; dynamic
//! plugins through the header their `export_plugin!` emits, and are called across the plugin
//! boundary (see [`crate::plugin`]). Either way registration goes through a [`Plugin::build`]
//! call, and every constructor and every object it returns is wrapped in a panic guard (see
//! [`crate::plugin::guard`]).

use crate::plugin::guard;
use crate::plugin::guarded::{GuardedAugmentation, GuardedImageIo};
use crate::plugin::guarded::{GuardedDataset, GuardedLoss, GuardedNetwork, GuardedPlanner};
use crate::plugin::guarded::{GuardedPostprocessor, GuardedTrainer};
use crate::{Augmentation, ImageIo};
use crate::{Dataset, Error, Loss, LossSpec, Network, NetworkSpec, Planner, Postprocessor};
use crate::{Result, Trainer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::nn;

/// Options passed to constructors of trainers, planners and postprocessors.
pub type Options = serde_json::Value;

pub type NetworkCtor =
    Arc<dyn Fn(&nn::Path, &NetworkSpec) -> Result<Box<dyn Network>> + Send + Sync>;
pub type LossCtor = Arc<dyn Fn(&LossSpec) -> Result<Box<dyn Loss>> + Send + Sync>;
pub type TrainerCtor = Arc<dyn Fn(&Options) -> Result<Box<dyn Trainer>> + Send + Sync>;
pub type PlannerCtor = Arc<dyn Fn(&Options) -> Result<Box<dyn Planner>> + Send + Sync>;
pub type PostprocessorCtor = Arc<dyn Fn(&Options) -> Result<Box<dyn Postprocessor>> + Send + Sync>;
pub type DatasetFormatCtor = Arc<dyn Fn(&Path) -> Result<Box<dyn Dataset>> + Send + Sync>;
pub type AugmentationCtor = Arc<dyn Fn(&Options) -> Result<Box<dyn Augmentation>> + Send + Sync>;
pub type ImageIoCtor = Arc<dyn Fn() -> Result<Box<dyn ImageIo>> + Send + Sync>;

/// A constructor of any kind: what a plugin's own registry offers the host.
pub(crate) enum AnyCtor {
    Network(NetworkCtor),
    Loss(LossCtor),
    Trainer(TrainerCtor),
    Planner(PlannerCtor),
    Postprocessor(PostprocessorCtor),
    DatasetFormat(DatasetFormatCtor),
    Augmentation(AugmentationCtor),
    ImageIo(ImageIoCtor),
}

/// The kinds of component a registry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    Network,
    Loss,
    Trainer,
    Planner,
    Postprocessor,
    DatasetFormat,
    Augmentation,
    ImageIo,
}

impl ComponentKind {
    pub const ALL: [ComponentKind; 8] = [
        ComponentKind::Network,
        ComponentKind::Loss,
        ComponentKind::Trainer,
        ComponentKind::Planner,
        ComponentKind::Postprocessor,
        ComponentKind::DatasetFormat,
        ComponentKind::Augmentation,
        ComponentKind::ImageIo,
    ];

    /// The plural, for headings ("losses:").
    pub fn plural(self) -> &'static str {
        match self {
            ComponentKind::Network => "networks",
            ComponentKind::Loss => "losses",
            ComponentKind::Trainer => "trainers",
            ComponentKind::Planner => "planners",
            ComponentKind::Postprocessor => "postprocessors",
            ComponentKind::DatasetFormat => "dataset formats",
            ComponentKind::Augmentation => "augmentations",
            ComponentKind::ImageIo => "image readers/writers",
        }
    }

    /// The kind's number at the plugin boundary (stable: changing one bumps the plugin ABI).
    pub fn code(self) -> u32 {
        match self {
            ComponentKind::Network => 0,
            ComponentKind::Loss => 1,
            ComponentKind::Trainer => 2,
            ComponentKind::Planner => 3,
            ComponentKind::Postprocessor => 4,
            ComponentKind::DatasetFormat => 5,
            ComponentKind::Augmentation => 6,
            ComponentKind::ImageIo => 7,
        }
    }

    /// The kind with boundary number `code`.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Network => "network",
            ComponentKind::Loss => "loss",
            ComponentKind::Trainer => "trainer",
            ComponentKind::Planner => "planner",
            ComponentKind::Postprocessor => "postprocessor",
            ComponentKind::DatasetFormat => "dataset format",
            ComponentKind::Augmentation => "augmentation",
            ComponentKind::ImageIo => "image reader/writer",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a component came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    BuiltIn { crate_name: String },
    Plugin { path: PathBuf },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn { crate_name } => write!(f, "built-in ({crate_name})"),
            Origin::Plugin { path } => write!(f, "plugin {}", path.display()),
        }
    }
}

/// One registered component.
pub struct Component<C> {
    pub name: String,
    pub description: String,
    pub origin: Origin,
    pub make: C,
}

/// A self-registering set of components: a built-in crate or a dynamic plugin.
pub trait Plugin: Sync {
    /// The plugin's name, shown in `nnunet plugins list`.
    fn name(&self) -> &'static str;
    /// Registers the plugin's components.
    fn build(&self, registry: &mut Registry) -> Result<()>;
}

/// A built-in crate's entry in the `inventory` collection: `inventory::submit!(BuiltIn(&MyPlugin));`.
pub struct BuiltIn(pub &'static dyn Plugin);
inventory::collect!(BuiltIn);

struct Table<C> {
    kind: ComponentKind,
    entries: BTreeMap<String, Component<C>>,
}

impl<C> Table<C> {
    fn new(kind: ComponentKind) -> Self {
        Table {
            kind,
            entries: BTreeMap::new(),
        }
    }

    fn insert(&mut self, origin: &Origin, name: &str, description: &str, make: C) -> Result<()> {
        if let Some(existing) = self.entries.get(name) {
            return Err(Error::DuplicateComponent {
                kind: self.kind.as_str(),
                name: name.to_string(),
                first: existing.origin.to_string(),
                second: origin.to_string(),
            });
        }
        let component = Component {
            name: name.to_string(),
            description: description.to_string(),
            origin: origin.clone(),
            make,
        };
        self.entries.insert(name.to_string(), component);
        Ok(())
    }

    fn get(&self, name: &str) -> Result<&Component<C>> {
        self.entries
            .get(name)
            .ok_or_else(|| Error::UnknownComponent {
                kind: self.kind.as_str(),
                name: name.to_string(),
                known: self.entries.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    fn describe(&self) -> impl Iterator<Item = ComponentInfo> + '_ {
        self.entries.values().map(|c| ComponentInfo {
            kind: self.kind,
            name: c.name.clone(),
            description: c.description.clone(),
            origin: c.origin.clone(),
        })
    }
}

/// A registered component, without its constructor: what `plugins list` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentInfo {
    pub kind: ComponentKind,
    pub name: String,
    pub description: String,
    pub origin: Origin,
}

/// Component name → constructor, per kind.
pub struct Registry {
    origin: Origin,
    networks: Table<NetworkCtor>,
    losses: Table<LossCtor>,
    trainers: Table<TrainerCtor>,
    planners: Table<PlannerCtor>,
    postprocessors: Table<PostprocessorCtor>,
    dataset_formats: Table<DatasetFormatCtor>,
    augmentations: Table<AugmentationCtor>,
    image_ios: Table<ImageIoCtor>,
    plugins: Vec<PathBuf>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::empty()
    }
}

impl Registry {
    /// A registry with nothing in it.
    pub fn empty() -> Self {
        Registry {
            origin: Origin::BuiltIn {
                crate_name: "unknown".into(),
            },
            networks: Table::new(ComponentKind::Network),
            losses: Table::new(ComponentKind::Loss),
            trainers: Table::new(ComponentKind::Trainer),
            planners: Table::new(ComponentKind::Planner),
            postprocessors: Table::new(ComponentKind::Postprocessor),
            dataset_formats: Table::new(ComponentKind::DatasetFormat),
            augmentations: Table::new(ComponentKind::Augmentation),
            image_ios: Table::new(ComponentKind::ImageIo),
            plugins: Vec::new(),
        }
    }

    /// A registry holding every built-in component linked into this binary.
    ///
    /// `inventory` sees only crates that are linked: a binary must name each built-in crate
    /// (`use nnunet_losses as _;`) for its components to appear.
    pub fn with_builtins() -> Result<Self> {
        let mut registry = Self::empty();
        let mut builtins: Vec<&BuiltIn> = inventory::iter::<BuiltIn>.into_iter().collect();
        builtins.sort_by_key(|b| b.0.name());
        for builtin in builtins {
            registry.register(
                Origin::BuiltIn {
                    crate_name: builtin.0.name().to_string(),
                },
                builtin.0,
            )?;
        }
        Ok(registry)
    }

    /// Runs `plugin.build` with `origin` recorded on everything it registers.
    pub fn register(&mut self, origin: Origin, plugin: &dyn Plugin) -> Result<()> {
        self.origin = origin;
        let context = format!("{} build", plugin.name());
        guard(&context, || plugin.build(self))
    }

    /// Loads a plugin file (see [`crate::plugin::load_plugin`]) and registers its components.
    pub fn load_plugin(&mut self, path: &Path) -> Result<()> {
        let plugin = crate::plugin::load_plugin(path)?;
        if self.plugins.contains(&plugin.path) {
            return Ok(());
        }
        self.origin = Origin::Plugin {
            path: plugin.path.clone(),
        };
        plugin.register(self)?;
        self.plugins.push(plugin.path);
        Ok(())
    }

    /// Plugin files loaded so far, canonical paths.
    pub fn plugin_paths(&self) -> &[PathBuf] {
        &self.plugins
    }

    pub fn add_network<F>(&mut self, name: &str, description: &str, make: F) -> Result<()>
    where
        F: Fn(&nn::Path, &NetworkSpec) -> Result<Box<dyn Network>> + Send + Sync + 'static,
    {
        let label = format!("network {name}");
        let make: NetworkCtor = Arc::new(move |path, spec| {
            let inner = guard(&label, || make(path, spec))?;
            Ok(Box::new(GuardedNetwork::new(&label, inner)) as Box<dyn Network>)
        });
        self.networks.insert(&self.origin, name, description, make)
    }

    pub fn add_loss<F>(&mut self, name: &str, description: &str, make: F) -> Result<()>
    where
        F: Fn(&LossSpec) -> Result<Box<dyn Loss>> + Send + Sync + 'static,
    {
        let label = format!("loss {name}");
        let make: LossCtor = Arc::new(move |spec| {
            let inner = guard(&label, || make(spec))?;
            Ok(Box::new(GuardedLoss::new(&label, inner)) as Box<dyn Loss>)
        });
        self.losses.insert(&self.origin, name, description, make)
    }

    pub fn add_trainer<F>(&mut self, name: &str, description: &str, make: F) -> Result<()>
    where
        F: Fn(&Options) -> Result<Box<dyn Trainer>> + Send + Sync + 'static,
    {
        let label = format!("trainer {name}");
        let make: TrainerCtor = Arc::new(move |options| {
            let inner = guard(&label, || make(options))?;
            Ok(Box::new(GuardedTrainer::new(&label, inner)) as Box<dyn Trainer>)
        });
        self.trainers.insert(&self.origin, name, description, make)
    }

    pub fn add_planner<F>(&mut self, name: &str, description: &str, make: F) -> Result<()>
    where
        F: Fn(&Options) -> Result<Box<dyn Planner>> + Send + Sync + 'static,
    {
        let label = format!("planner {name}");
        let make: PlannerCtor = Arc::new(move |options| {
            let inner = guard(&label, || make(options))?;
            Ok(Box::new(GuardedPlanner::new(&label, inner)) as Box<dyn Planner>)
        });
        self.planners.insert(&self.origin, name, description, make)
    }

    pub fn add_postprocessor<F>(&mut self, name: &str, description: &str, make: F) -> Result<()>
    where
        F: Fn(&Options) -> Result<Box<dyn Postprocessor>> + Send + Sync + 'static,
    {
        let label = format!("postprocessor {name}");
        let make: PostprocessorCtor = Arc::new(move |options| {
            let inner = guard(&label, || make(options))?;
            Ok(Box::new(GuardedPostprocessor::new(&label, inner)) as Box<dyn Postprocessor>)
        });
        self.postprocessors
            .insert(&self.origin, name, description, make)
    }

    pub fn add_dataset_format<F>(&mut self, name: &str, description: &str, make: F) -> Result<()>
    where
        F: Fn(&Path) -> Result<Box<dyn Dataset>> + Send + Sync + 'static,
    {
        let label = format!("dataset format {name}");
        let make: DatasetFormatCtor = Arc::new(move |path| {
            let inner = guard(&label, || make(path))?;
            Ok(Box::new(GuardedDataset::new(&label, inner)) as Box<dyn Dataset>)
        });
        self.dataset_formats
            .insert(&self.origin, name, description, make)
    }

    /// A data-augmentation transform for the training pipeline's worker threads.
    pub fn add_augmentation<F>(&mut self, name: &str, description: &str, make: F) -> Result<()>
    where
        F: Fn(&Options) -> Result<Box<dyn Augmentation>> + Send + Sync + 'static,
    {
        let label = format!("augmentation {name}");
        let make: AugmentationCtor = Arc::new(move |options| {
            let inner = guard(&label, || make(options))?;
            Ok(Box::new(GuardedAugmentation::new(&label, inner)) as Box<dyn Augmentation>)
        });
        self.augmentations
            .insert(&self.origin, name, description, make)
    }

    /// An image reader/writer; `name` is what `dataset.json`'s `overwrite_image_reader_writer`
    /// gives to choose it.
    pub fn add_image_io<F>(&mut self, name: &str, description: &str, make: F) -> Result<()>
    where
        F: Fn() -> Result<Box<dyn ImageIo>> + Send + Sync + 'static,
    {
        let label = format!("image reader/writer {name}");
        let make: ImageIoCtor = Arc::new(move || {
            let inner = guard(&label, &make)?;
            Ok(Box::new(GuardedImageIo::new(&label, inner)) as Box<dyn ImageIo>)
        });
        self.image_ios.insert(&self.origin, name, description, make)
    }

    pub fn network(&self, name: &str) -> Result<&Component<NetworkCtor>> {
        self.networks.get(name)
    }
    pub fn loss(&self, name: &str) -> Result<&Component<LossCtor>> {
        self.losses.get(name)
    }
    pub fn trainer(&self, name: &str) -> Result<&Component<TrainerCtor>> {
        self.trainers.get(name)
    }
    pub fn planner(&self, name: &str) -> Result<&Component<PlannerCtor>> {
        self.planners.get(name)
    }
    pub fn postprocessor(&self, name: &str) -> Result<&Component<PostprocessorCtor>> {
        self.postprocessors.get(name)
    }
    pub fn dataset_format(&self, name: &str) -> Result<&Component<DatasetFormatCtor>> {
        self.dataset_formats.get(name)
    }
    pub fn augmentation(&self, name: &str) -> Result<&Component<AugmentationCtor>> {
        self.augmentations.get(name)
    }
    pub fn image_io(&self, name: &str) -> Result<&Component<ImageIoCtor>> {
        self.image_ios.get(name)
    }

    /// Every registered image reader/writer, built: `(name, reader/writer)` by name.
    pub fn build_image_ios(&self) -> Result<Vec<(String, Box<dyn ImageIo>)>> {
        self.image_ios
            .entries
            .values()
            .map(|c| Ok((c.name.clone(), (c.make)()?)))
            .collect()
    }

    /// Builds the named network with its parameters under `path`.
    pub fn build_network(
        &self,
        name: &str,
        path: &nn::Path,
        spec: &NetworkSpec,
    ) -> Result<Box<dyn Network>> {
        (self.network(name)?.make)(path, spec)
    }

    /// Builds the named loss.
    pub fn build_loss(&self, name: &str, spec: &LossSpec) -> Result<Box<dyn Loss>> {
        (self.loss(name)?.make)(spec)
    }

    /// Every constructor with its name and description, by kind then name (what a plugin's
    /// `export_plugin!` offers the host).
    pub(crate) fn constructors(&self) -> Vec<(String, String, AnyCtor)> {
        fn of<C: Clone>(
            table: &Table<C>,
            wrap: fn(C) -> AnyCtor,
        ) -> Vec<(String, String, AnyCtor)> {
            let entries = table.entries.values();
            entries
                .map(|c| (c.name.clone(), c.description.clone(), wrap(c.make.clone())))
                .collect()
        }
        let mut all = of(&self.networks, AnyCtor::Network);
        all.extend(of(&self.losses, AnyCtor::Loss));
        all.extend(of(&self.trainers, AnyCtor::Trainer));
        all.extend(of(&self.planners, AnyCtor::Planner));
        all.extend(of(&self.postprocessors, AnyCtor::Postprocessor));
        all.extend(of(&self.dataset_formats, AnyCtor::DatasetFormat));
        all.extend(of(&self.augmentations, AnyCtor::Augmentation));
        all.extend(of(&self.image_ios, AnyCtor::ImageIo));
        all
    }

    /// Every registered component, by kind then name.
    pub fn components(&self) -> Vec<ComponentInfo> {
        let mut all: Vec<ComponentInfo> = Vec::new();
        all.extend(self.networks.describe());
        all.extend(self.losses.describe());
        all.extend(self.trainers.describe());
        all.extend(self.planners.describe());
        all.extend(self.postprocessors.describe());
        all.extend(self.dataset_formats.describe());
        all.extend(self.augmentations.describe());
        all.extend(self.image_ios.describe());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Tensor;

    struct Constant(f64);
    impl Loss for Constant {
        fn compute(&self, _: &Tensor, _: &Tensor) -> Result<Tensor> {
            Ok(Tensor::from(self.0))
        }
    }

    struct TwoLosses;
    impl Plugin for TwoLosses {
        fn name(&self) -> &'static str {
            "two"
        }
        fn build(&self, registry: &mut Registry) -> Result<()> {
            registry.add_loss("one", "constant 1", |_| Ok(Box::new(Constant(1.0))))?;
            registry.add_loss("boom", "panics when built", |_| {
                panic!("constructor exploded")
            })
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::empty();
        let origin = Origin::BuiltIn {
            crate_name: "test".into(),
        };
        r.register(origin, &TwoLosses).unwrap();
        r
    }

    #[test]
    fn registered_components_are_listed_with_origin() {
        let r = registry();
        let names: Vec<_> = r.components().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["boom", "one"]);
        assert_eq!(r.loss("one").unwrap().origin.to_string(), "built-in (test)");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = registry()
            .build_loss("dice", &LossSpec::default())
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "no loss named \"dice\" is registered (known: boom, one)"
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut r = registry();
        let err = r
            .register(
                Origin::Plugin {
                    path: "/x/libtwo.so".into(),
                },
                &TwoLosses,
            )
            .unwrap_err();
        assert!(err.to_string().contains("registered twice"), "{err}");
        assert!(err.to_string().contains("plugin /x/libtwo.so"), "{err}");
    }

    #[test]
    fn a_panicking_constructor_is_an_error() {
        let err = registry()
            .build_loss("boom", &LossSpec::default())
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "panic in loss boom: constructor exploded");
    }
}
