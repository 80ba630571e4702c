//! The plain-Rust CPU oracle: every GPU kernel has a twin here with the same
//! name, written for clarity and accumulated in f64. Its gradients are
//! checked against finite differences in tests/reference_fd.rs.

pub mod landscape;
mod layers;
pub mod mala;
mod network;
mod nonlocal;
pub mod optim;
pub mod philox;
pub mod picture;
pub mod trainer;

pub use layers::{
    conv2d_forward, conv2d_input_grad, conv2d_weight_grad, leaky_relu_backward, leaky_relu_forward,
    max_pool2_backward, max_pool2_forward,
};
pub use network::{NetworkGrads, ReferenceNet};
pub use nonlocal::{NonLocalGrads, NonLocalWeights, non_local_backward, non_local_forward};
