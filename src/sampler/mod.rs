//! MCMC on the GPU: energies seen as fields over chain states, the
//! unadjusted Langevin sampler (ULA), MALA, counter-based noise, the
//! persistent chain bank and attraction–diffusion's pull.

mod attraction;
mod bank;
mod field;
mod langevin;
mod mala;
mod noise;

pub use attraction::{ATTRACTION_HEADER, Attracted, Track};
pub use bank::Bank;
pub use field::{AnalyticField, EnergyField};
pub use langevin::{FusedKernel, Langevin, SamplerKernels, StepSize};
pub use mala::Mala;
pub use noise::{MAX_COUNTED, Noise, Rng, RngDistribution};
