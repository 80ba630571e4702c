//! Shared by the integration tests.
#![allow(dead_code)]

use ebmscope::gpu::{AdapterChoice, Gpu};

/// The adapter the tests run on. No adapter is a failure, never a skip:
/// CI installs Mesa's software Vulkan driver (mesa-vulkan-drivers).
pub fn gpu() -> Gpu {
    match Gpu::new(&AdapterChoice::default()) {
        Ok(gpu) => gpu,
        Err(e) => panic!("GPU tests need an adapter: {e}"),
    }
}

pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| f64::from(a)).collect()
}
