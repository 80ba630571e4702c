//! Networks as data: a layer list from which the CPU reference and the GPU
//! plan both derive their shapes, parameter layout and initialisation.

mod init;
mod plan;
mod spec;

pub use init::{check_params, init_params};
pub(crate) use plan::FEWER_AT_A_TIME;
pub use plan::{Backward, GpuNet};
pub use spec::{
    ConvGeometry, ConvSlot, GeometryKind, LEAKY_SLOPE, LayerOp, LayerSpec, NetKind, NetSpec, NonLocalParts,
    ParamLayout, TensorSlot,
};
