//! Training: preprocessed cases behind [`CaseSource`] ([`preprocessed`], with the cascade's
//! previous-stage segmentations), nnU-Net's patch sampling with foreground oversampling
//! ([`patch_sampling`]), its full augmentation pipeline ([`augment`]), batches ([`loader`],
//! [`batch`]) and worker threads with a bounded, reproducible prefetch queue ([`prefetch`]);
//! and the training loop ([`training`]: optimisers in [`optim`], mixed-precision loss scaling
//! in [`grad_scaler`], regions and cascade inputs from [`label_setup`], checkpoints, logs,
//! progress.png), driven by an [`experiment`]; the trainer variant and the run's options are
//! resolved before the first epoch in [`resolve`], and nnU-Net's named trainer variants are
//! registered in [`builtin`]. See `docs/training.md`.

pub mod augment;
pub mod batch;
pub mod builtin;
pub mod case_source;
pub mod checkpoint;
pub mod data_parallel;
pub mod experiment;
pub mod grad_scaler;
pub mod label_setup;
pub mod loader;
pub mod optim;
pub mod patch_sampling;
pub mod prefetch;
pub mod preprocessed;
pub mod pretrained;
pub mod progress;
mod pseudo_dice;
pub mod pth;
pub mod random;
pub mod resolve;
pub mod sample;
pub mod step;
pub mod synthetic;
pub mod training;

pub use augment::AugmentConfig;
pub use batch::Batch;
pub use case_source::{CaseData, CaseSource, InMemoryCases};
pub use loader::{DataLoader, LoaderConfig};
pub use prefetch::Prefetcher;
