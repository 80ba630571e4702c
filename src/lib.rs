//! ebmscope: ConvNet energy-based models trained by MCMC maximum likelihood
//! (Nijkamp et al., "On the Anatomy of MCMC-Based Maximum Likelihood Learning
//! of Energy-Based Models") on any GPU that wgpu reaches.
//!
//! Layers of the crate:
//! - [`model`]: network specs as data (layer list, geometry, parameter layout,
//!   PyTorch-default initialisation);
//! - [`reference`]: the plain-Rust f64 CPU oracle of every kernel;
//! - [`gpu`]: adapter choice, device, pipeline cache, readback;
//! - [`kernels`]: the WGSL shaders and their host modules;
//! - [`io`]: safetensors weights and tensors, compatible with PyTorch state dicts
//!   (and torch.save's `.pth` state dicts read);
//! - [`doctor`]: GPU kernels checked against the reference on the chosen adapter.

pub mod bench;
pub mod compare;
pub mod config;
pub mod data;
pub mod diagnostics;
pub mod doctor;
pub mod error;
pub mod gpu;
pub mod gui;
pub mod io;
pub mod kernels;
pub mod model;
pub mod plot;
pub mod progress;
pub mod reference;
pub mod sampler;
pub mod train;

pub use error::{Error, Result};
