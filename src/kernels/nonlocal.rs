//! Host side of the non-local block (shaders/nonlocal_*.wgsl, add_into.wgsl):
//! the block is recorded as its parts — one 1×1 convolution for θ, φ, g,
//! a 2×2 max-pooling of that stack, the attention kernels, the 1×1
//! convolution W and the residual — reusing the convolution family.

use bytemuck::{Pod, Zeroable};

use super::conv2d::{ConvBuffers, ConvLayer, ConvParams};
use super::{
    ADD_INTO, Launch, NONLOCAL_ATTENTION, NONLOCAL_KEY_GRAD, NONLOCAL_MIX, NONLOCAL_QUERY_GRAD,
    NONLOCAL_SOFTMAX_GRAD,
};
use crate::gpu::Gpu;
use crate::model::{ConvGeometry, ConvSlot};
use crate::{Error, Result};

/// Mirrors `struct NonLocalParams` of nonlocal_params.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct NonLocalParams {
    pub batch: u32,
    pub inter: u32,
    pub queries: u32,
    pub keys: u32,
}

/// Mirrors `struct AddParams` of add_into.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AddParams {
    pub len: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// One non-local block for a fixed batch: its own intermediate buffers and
/// every launch, made once.
pub struct NonLocalLayer {
    qkv: ConvLayer,
    pool: ConvLayer,
    w: ConvLayer,
    attention: Launch,
    mix: Launch,
    residual: Launch,
    softmax_grad: Launch,
    key_grad: Launch,
    query_grad: Launch,
    input_residual: Launch,
    _scratch: Vec<wgpu::Buffer>,
}

/// f32 of scratch for the weight gradients of a block's two convolutions.
pub fn partial_len(g: &ConvGeometry, batch: usize) -> Result<usize> {
    let parts = non_local_parts(g)?;
    let mut len = 0;
    for conv in [parts.qkv, parts.w] {
        let p = ConvParams::new(&conv, batch, 0, 0)?;
        len = len.max(p.n_chunks as usize * p.grad_row_len());
    }
    Ok(len)
}

fn non_local_parts(g: &ConvGeometry) -> Result<crate::model::NonLocalParts> {
    g.non_local_parts()
        .ok_or_else(|| Error::Shape("a non-local layer needs a non-local geometry".into()))
}

impl NonLocalLayer {
    /// `slots`: where the θφg and W parameters start in the flat vector;
    /// `b`: the block's input, output and their gradients, as a layer's.
    pub fn new(
        gpu: &Gpu,
        label: &str,
        g: &ConvGeometry,
        batch: usize,
        slots: [ConvSlot; 2],
        b: &ConvBuffers,
    ) -> Result<Self> {
        let parts = non_local_parts(g)?;
        let (i, nq, nk) = (parts.inter, parts.queries, parts.keys);
        let attn_len = batch * nq * nk;
        if u32::try_from(attn_len).is_err() {
            return Err(Error::Shape(format!(
                "{label}: the attention of {batch} images × {nq} queries × {nk} keys exceeds the \
                 32-bit indexing of the kernels; use a smaller batch"
            )));
        }
        let buffer = |what: &str, len: usize| gpu.storage_buffer(&format!("{label} {what}"), len);
        let qkv = buffer("θφg", batch * 3 * i * nq);
        let pooled = buffer("θφg pooled", batch * 3 * i * nk);
        let attn = buffer("attention", attn_len);
        let y = buffer("y", batch * i * nq);
        let d_qkv = buffer("∂θφg", batch * 3 * i * nq);
        let d_pooled = buffer("∂θφg pooled", batch * 3 * i * nk);
        let d_scores = buffer("∂scores", attn_len);
        let dy = buffer("∂y", batch * i * nq);

        let conv =
            |name: &str, geometry: &ConvGeometry, slot: ConvSlot, max_pool: bool, bufs: ConvBuffers| {
                let params = ConvParams::new(geometry, batch, slot.weight, slot.bias)?;
                ConvLayer::new(gpu, &format!("{label} {name}"), params, max_pool, &bufs)
            };
        let qkv_layer = conv(
            "θφg",
            &parts.qkv,
            slots[0],
            false,
            ConvBuffers {
                input: b.input,
                output: &qkv,
                params: b.params,
                grad_output: &d_qkv,
                grad_input: b.grad_input,
                grads: b.grads,
                partial: b.partial,
                dz: b.dz,
            },
        )?;
        let pool_layer = conv(
            "pool",
            &parts.pool,
            ConvSlot { weight: 0, bias: 0 },
            true,
            ConvBuffers {
                input: &qkv,
                output: &pooled,
                params: b.params,
                grad_output: &d_pooled,
                grad_input: &d_qkv,
                grads: b.grads,
                partial: b.partial,
                dz: b.dz,
            },
        )?;
        let w_layer = conv(
            "W",
            &parts.w,
            slots[1],
            false,
            ConvBuffers {
                input: &y,
                output: b.output,
                params: b.params,
                grad_output: b.grad_output,
                grad_input: &dy,
                grads: b.grads,
                partial: b.partial,
                dz: b.dz,
            },
        )?;
        let p = NonLocalParams {
            batch: batch as u32,
            inter: i as u32,
            queries: nq as u32,
            keys: nk as u32,
        };
        let launch = |shader, what: &str, buffers: &[&wgpu::Buffer], n: usize| {
            Launch::new(gpu, shader, &format!("{label} {what}"), &p, buffers, n)
        };
        let add = |what: &str, src: &wgpu::Buffer, dst: &wgpu::Buffer| {
            let len = batch * g.out_len();
            let params = AddParams {
                len: len as u32,
                ..AddParams::default()
            };
            Launch::new(
                gpu,
                &ADD_INTO,
                &format!("{label} {what}"),
                &params,
                &[src, dst],
                len,
            )
        };
        Ok(NonLocalLayer {
            attention: launch(
                &NONLOCAL_ATTENTION,
                "attention",
                &[&qkv, &pooled, &attn],
                batch * nq,
            )?,
            mix: launch(&NONLOCAL_MIX, "mix", &[&attn, &pooled, &y], batch * i * nq)?,
            residual: add("residual", b.input, b.output)?,
            softmax_grad: launch(
                &NONLOCAL_SOFTMAX_GRAD,
                "softmax grad",
                &[&attn, &pooled, &dy, &d_scores],
                batch * nq,
            )?,
            key_grad: launch(
                &NONLOCAL_KEY_GRAD,
                "key grad",
                &[&attn, &d_scores, &qkv, &dy, &d_pooled],
                batch * 3 * i * nk,
            )?,
            query_grad: launch(
                &NONLOCAL_QUERY_GRAD,
                "query grad",
                &[&d_scores, &pooled, &d_qkv],
                batch * i * nq,
            )?,
            input_residual: add("input residual", b.grad_output, b.grad_input)?,
            qkv: qkv_layer,
            pool: pool_layer,
            w: w_layer,
            _scratch: vec![qkv, pooled, attn, y, d_qkv, d_pooled, d_scores, dy],
        })
    }

    /// output = W(softmax(θᵀφ) gᵀ) + input.
    pub fn record_forward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.qkv.record_forward(gpu, pass);
        self.pool.record_forward(gpu, pass);
        self.attention.record(gpu, pass);
        self.mix.record(gpu, pass);
        self.w.record_forward(gpu, pass);
        self.residual.record(gpu, pass);
    }

    /// Parameter gradients (if `params`) and ∂L/∂input (if `input`) from
    /// ∂L/∂output; needs a recorded forward pass on the same input.
    pub fn record_backward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, params: bool, input: bool) {
        self.w.record_backward(gpu, pass, params, true);
        self.softmax_grad.record(gpu, pass);
        self.key_grad.record(gpu, pass);
        self.pool.record_backward(gpu, pass, false, true);
        self.query_grad.record(gpu, pass);
        self.qkv.record_backward(gpu, pass, params, input);
        if input {
            self.input_residual.record(gpu, pass);
        }
    }
}
