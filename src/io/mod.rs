//! Files: parameters and tensors in safetensors, interchangeable with PyTorch
//! (`safetensors.torch.save_file(model.state_dict(), …)` and `load_file`).

mod tensors;
mod weights;

pub use tensors::{
    Tensor, read_all, read_tensor, write_atomically, write_tensors, write_tensors_with_metadata,
};
pub use weights::{ADAM_M_TENSOR, ADAM_V_TENSOR, BANK_TENSOR, load_params, save_params};
