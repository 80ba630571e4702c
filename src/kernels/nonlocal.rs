//! Host side of the non-local block (shaders/batched_matmul.wgsl,
//! attention_softmax*.wgsl, add_into.wgsl): the block is recorded as its
//! parts — one 1×1 convolution for θ, φ, g, a 2×2 max-pooling of that
//! stack, the attention (its scores and softmax in one kernel), batched
//! matrix products, the 1×1 convolution W and the residual — reusing the
//! convolution family.

use bytemuck::{Pod, Zeroable};

use super::conv2d::{ConvBuffers, ConvLayer, ConvParams, LeakyReluFusion};
use super::{
    ADD_INTO, ATTENTION_SOFTMAX, ATTENTION_SOFTMAX_GRAD, BATCHED_MATMUL, BATCHED_MATMUL_ROWS, Launch,
};
use crate::gpu::Gpu;
use crate::model::{ConvGeometry, ConvSlot, NonLocalParts};
use crate::{Error, Result};

/// Mirrors `struct MatmulParams` of batched_matmul.wgsl: C = A·B per image,
/// each operand at an offset with strides per image, row and column.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MatmulParams {
    pub batch: u32,
    pub m: u32,
    pub n: u32,
    pub depth: u32,
    pub a_offset: u32,
    pub a_image: u32,
    pub a_row: u32,
    pub a_col: u32,
    pub b_offset: u32,
    pub b_image: u32,
    pub b_row: u32,
    pub b_col: u32,
    pub c_offset: u32,
    pub c_image: u32,
    pub c_row: u32,
    pub c_col: u32,
}

/// Where one operand of a batched product lies in its buffer:
/// element (image, row, col) at `offset + image·image + row·row + col·col`.
#[derive(Clone, Copy, Debug)]
pub struct Operand {
    pub offset: usize,
    pub image: usize,
    pub row: usize,
    pub col: usize,
}

impl MatmulParams {
    /// C[b] (m × n) = A[b] (m × depth) · B[b] (depth × n) for `batch` images.
    pub fn new(batch: usize, [m, n, depth]: [usize; 3], a: Operand, b: Operand, c: Operand) -> Self {
        let u = |v: usize| v as u32;
        MatmulParams {
            batch: u(batch),
            m: u(m),
            n: u(n),
            depth: u(depth),
            a_offset: u(a.offset),
            a_image: u(a.image),
            a_row: u(a.row),
            a_col: u(a.col),
            b_offset: u(b.offset),
            b_image: u(b.image),
            b_row: u(b.row),
            b_col: u(b.col),
            c_offset: u(c.offset),
            c_image: u(c.image),
            c_row: u(c.row),
            c_col: u(c.col),
        }
    }

    /// Invocations of batched_matmul: one per image and 4 × 4 block of C.
    pub fn invocations(&self) -> usize {
        (self.batch * self.m.div_ceil(4) * self.n.div_ceil(4)) as usize
    }

    /// batched_matmul's override constants: how it reads each operand —
    /// as vec4s along the block's rows (A) or columns (B) (1) or along the
    /// sum (2), where that dimension is adjacent in memory and every vec4
    /// it reads starts at a multiple of 4, else value by value (0).
    pub fn vec4_constants(&self) -> [(&'static str, f64); 2] {
        // (Along the block's rows or columns every block must be whole: m
        // or n a multiple of 4.)
        let a = if self.a_row == 1 && whole(&[self.m, self.a_offset, self.a_image, self.a_col]) {
            1
        } else if self.a_col == 1 && whole(&[self.a_offset, self.a_image, self.a_row]) {
            2
        } else {
            0
        };
        let b = if self.b_col == 1 && whole(&[self.n, self.b_offset, self.b_image, self.b_row]) {
            1
        } else if self.b_row == 1 && whole(&[self.b_offset, self.b_image, self.b_col]) {
            2
        } else {
            0
        };
        [("A_VEC", f64::from(a)), ("B_VEC", f64::from(b))]
    }

    /// Whether C's rows are written as vec4s (BATCHED_MATMUL_ROWS): its
    /// columns side by side and every row's block of 4 a whole vec4.
    pub fn writes_rows(&self) -> bool {
        self.c_col == 1 && whole(&[self.n, self.c_offset, self.c_image, self.c_row])
    }

    /// The launch of batched_matmul for this product on `a`, `b`, `c`,
    /// specialised to how its operands lie (A and B bound also as vec4s).
    pub fn launch(&self, gpu: &Gpu, label: &str, [a, b, c]: [&wgpu::Buffer; 3]) -> Result<Launch> {
        let shader = if self.writes_rows() {
            &BATCHED_MATMUL_ROWS
        } else {
            &BATCHED_MATMUL
        };
        let constants = self.vec4_constants();
        Launch::specialised(
            gpu,
            shader,
            &constants,
            label,
            self,
            &[a, b, c, a, b],
            self.invocations(),
        )
    }
}

/// Whether every offset or stride in `v` is a multiple of 4: the vec4s an
/// operand is read or written as then start at multiples of 4.
fn whole(v: &[u32]) -> bool {
    v.iter().all(|v| v.is_multiple_of(4))
}

/// Mirrors `struct AttentionParams` of attention_rows.wgsl: the shape of
/// a non-local block's attention and where its two operands lie.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AttentionParams {
    pub batch: u32,
    pub queries: u32,
    pub keys: u32,
    /// Channels summed over (the block's C/2).
    pub channels: u32,
    /// Values from one row of attention to the next: a multiple of 4 (the
    /// kernels read and write rows as vec4s).
    pub row: u32,
    /// Values per image of the query operand ([·, Q], channels from 0) and
    /// of the key operand's stack ([·, K], the operand at `key_offset`).
    pub query_image: u32,
    pub key_image: u32,
    pub key_offset: u32,
}

impl AttentionParams {
    /// The attention of a block's `parts` over `batch` images, its query
    /// operand (θ at the start of θφg, or ∂y) `query_image` values per image
    /// and its key operand (φ or g) at `key_offset` in the pooled θφg.
    pub fn new(parts: &NonLocalParts, batch: usize, query_image: usize, key_offset: usize) -> Self {
        let u = |v: usize| v as u32;
        AttentionParams {
            batch: u(batch),
            queries: u(parts.queries),
            keys: u(parts.keys),
            channels: u(parts.inter),
            row: u(attention_row(parts.keys)),
            query_image: u(query_image),
            key_image: u(3 * parts.inter * parts.keys),
            key_offset: u(key_offset),
        }
    }

    /// Invocations of the attention kernels: one per image and 4 queries.
    pub fn invocations(&self) -> usize {
        (self.batch * self.queries.div_ceil(4)) as usize
    }

    /// The attention kernels' override constants: each operand read as
    /// vec4s where its rows are whole vec4s, else value by value.
    pub fn vec4_constants(&self) -> [(&'static str, f64); 2] {
        let query = whole(&[self.queries, self.query_image]);
        let key = whole(&[self.keys, self.key_image, self.key_offset]);
        [
            ("QUERY_VEC4", f64::from(u8::from(query))),
            ("KEY_VEC4", f64::from(u8::from(key))),
        ]
    }

    /// The launch of `shader` (attention_softmax or its gradient) on
    /// `buffers` (bindings 1, 2, 3, then 6, …), its query and key operands
    /// bound again as vec4s (bindings 4, 5).
    fn launch(
        &self,
        gpu: &Gpu,
        shader: &super::Shader,
        label: &str,
        buffers: &[&wgpu::Buffer],
    ) -> Result<Launch> {
        let mut bound = buffers[..3].to_vec();
        bound.extend([buffers[0], buffers[1]]);
        bound.extend(&buffers[3..]);
        Launch::specialised(
            gpu,
            shader,
            &self.vec4_constants(),
            label,
            self,
            &bound,
            self.invocations(),
        )
    }
}

/// Values from one row of a block's attention (one per query) to the next:
/// rows start at multiples of 4, for the attention kernels' vec4 reads and
/// writes; the products never touch the gaps.
pub(crate) fn attention_row(keys: usize) -> usize {
    keys.next_multiple_of(4)
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
    scores_grad: Launch,
    phi_grad: Launch,
    g_grad: Launch,
    theta_grad: Launch,
    input_residual: Launch,
    _scratch: Vec<wgpu::Buffer>,
}

/// f32 of scratch for a block's two convolutions ([`ConvParams::partial_len`]).
pub fn partial_len(g: &ConvGeometry, batch: usize) -> Result<usize> {
    let parts = non_local_parts(g)?;
    let mut len = 0;
    for conv in [parts.qkv, parts.w] {
        len = len.max(ConvParams::new(&conv, batch, 0, 0)?.partial_len());
    }
    Ok(len)
}

fn non_local_parts(g: &ConvGeometry) -> Result<NonLocalParts> {
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
        // (Neither its ∂/∂x nor its output is LeakyReLU's: ConvLayer::applies_input_leaky_relu.)
        debug_assert_eq!(b.leaky_relu_fusion, LeakyReluFusion::default());
        let parts = non_local_parts(g)?;
        let (i, nq, nk) = (parts.inter, parts.queries, parts.keys);
        let attn_row = attention_row(nk);
        let attn_len = batch * nq * attn_row;
        if u32::try_from(attn_len).is_err() {
            return Err(Error::Shape(format!(
                "{label}: the attention of {batch} images × {nq} queries × {nk} keys exceeds the \
                 32-bit indexing of the kernels; use a smaller batch"
            )));
        }
        // The attention and θφg buffers can outgrow the net's activations.
        for (what, len) in [("attention", attn_len), ("θφg", batch * 3 * i * nq)] {
            gpu.check_binding(
                &format!("{label}'s {what} for a batch of {batch}"),
                (len * 4) as u64,
                crate::model::FEWER_AT_A_TIME,
            )?;
        }
        // (Its 1×1 convolutions may read y and ∂θφg through uniform bindings.)
        let buffer = |what: &str, len: usize| gpu.activation_buffer(&format!("{label} {what}"), len, true);
        let qkv = buffer("θφg", batch * 3 * i * nq);
        let pooled = buffer("θφg pooled", batch * 3 * i * nk);
        let attn = buffer("attention", attn_len);
        let y = buffer("y", batch * i * nq);
        let d_qkv = buffer("∂θφg", batch * 3 * i * nq);
        let d_pooled = buffer("∂θφg pooled", batch * 3 * i * nk);
        let d_scores = buffer("∂scores", attn_len);
        let dy = buffer("∂y", batch * i * nq);

        let conv = |name: &str, geometry: &ConvGeometry, slot: ConvSlot, bufs: ConvBuffers| {
            ConvLayer::new(gpu, &format!("{label} {name}"), geometry, batch, slot, &bufs)
        };
        let qkv_layer = conv(
            "θφg",
            &parts.qkv,
            slots[0],
            ConvBuffers {
                input: b.input,
                output: &qkv,
                params: b.params,
                grad_output: &d_qkv,
                grad_input: b.grad_input,
                grads: b.grads,
                partial: b.partial,
                dz: b.dz,
                leaky_relu_fusion: LeakyReluFusion::default(),
            },
        )?;
        let pool_layer = conv(
            "pool",
            &parts.pool,
            ConvSlot { weight: 0, bias: 0 },
            ConvBuffers {
                input: &qkv,
                output: &pooled,
                params: b.params,
                grad_output: &d_pooled,
                grad_input: &d_qkv,
                grads: b.grads,
                partial: b.partial,
                dz: b.dz,
                leaky_relu_fusion: LeakyReluFusion::default(),
            },
        )?;
        let w_layer = conv(
            "W",
            &parts.w,
            slots[1],
            ConvBuffers {
                input: &y,
                output: b.output,
                params: b.params,
                grad_output: b.grad_output,
                grad_input: &dy,
                grads: b.grads,
                partial: b.partial,
                dz: b.dz,
                leaky_relu_fusion: LeakyReluFusion::default(),
            },
        )?;
        // Per image (i inter channels, Q queries, K keys): qkv [3i, Q] with
        // θ in channels 0..i; pooled [3i, K] with φ in i..2i, g in 2i..3i;
        // attention [Q, K] in rows of attn_row; y, ∂y [i, Q]. Operands as
        // (offset, row, col).
        let in_qkv = |offset, row, col| Operand {
            offset,
            image: 3 * i * nq,
            row,
            col,
        };
        let in_pooled = |offset, row, col| Operand {
            offset,
            image: 3 * i * nk,
            row,
            col,
        };
        let in_attn = |row, col| Operand {
            offset: 0,
            image: nq * attn_row,
            row,
            col,
        };
        let in_y = |row, col| Operand {
            offset: 0,
            image: i * nq,
            row,
            col,
        };
        let (theta, phi, g_at) = (0, i * nk, 2 * i * nk);
        let matmul = |what: &str, mnd, [a, b, c]: [Operand; 3], buffers: [&wgpu::Buffer; 3]| {
            MatmulParams::new(batch, mnd, a, b, c).launch(gpu, &format!("{label} {what}"), buffers)
        };
        let rows = |query_image, key_offset| AttentionParams::new(&parts, batch, query_image, key_offset);
        // (add_into reads and writes whole vec4s, 4 values an invocation.)
        let add = |what: &str, src: &wgpu::Buffer, dst: &wgpu::Buffer| {
            let len = batch * g.out_len();
            let whole = 4 * len.next_multiple_of(4) as u64;
            if src.size().min(dst.size()) < whole {
                return Err(Error::Shape(format!(
                    "{label} {what}: its buffers hold {} and {} f32, the block needs {} (its {len} \
                     outputs in whole vec4s; make them with Gpu::activation_buffer)",
                    src.size() / 4,
                    dst.size() / 4,
                    whole / 4
                )));
            }
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
                len.div_ceil(4),
            )
        };
        Ok(NonLocalLayer {
            // attention[q, k] = softmax_k(Σ_c θ[c, q] φ[c, k])
            attention: rows(3 * i * nq, phi).launch(
                gpu,
                &ATTENTION_SOFTMAX,
                &format!("{label} attention"),
                &[&qkv, &pooled, &attn],
            )?,
            // y[c, q] = Σ_k g[c, k] attention[q, k]
            mix: matmul(
                "mix",
                [i, nq, nk],
                [in_pooled(g_at, nk, 1), in_attn(1, attn_row), in_y(nq, 1)],
                [&pooled, &attn, &y],
            )?,
            residual: add("residual", b.input, b.output)?,
            // ∂scores from ∂attention[q, k] = Σ_c ∂y[c, q] g[c, k] and y
            // (bound twice: as values and as vec4s)
            scores_grad: rows(i * nq, g_at).launch(
                gpu,
                &ATTENTION_SOFTMAX_GRAD,
                &format!("{label} ∂scores"),
                &[&dy, &pooled, &attn, &d_scores, &y, &y],
            )?,
            // ∂φ[c, k] = Σ_q θ[c, q] ∂scores[q, k]
            phi_grad: matmul(
                "∂φ",
                [i, nk, nq],
                [in_qkv(theta, nq, 1), in_attn(attn_row, 1), in_pooled(phi, nk, 1)],
                [&qkv, &d_scores, &d_pooled],
            )?,
            // ∂g[c, k] = Σ_q ∂y[c, q] attention[q, k]
            g_grad: matmul(
                "∂g",
                [i, nk, nq],
                [in_y(nq, 1), in_attn(attn_row, 1), in_pooled(g_at, nk, 1)],
                [&dy, &attn, &d_pooled],
            )?,
            // ∂θ[c, q] = Σ_k φ[c, k] ∂scores[q, k]: after the pooling's
            // backward, which fills all of ∂qkv (θ's pooled channels are
            // unused, so their gradient stays 0 and is overwritten here).
            theta_grad: matmul(
                "∂θ",
                [i, nq, nk],
                [in_pooled(phi, nk, 1), in_attn(1, attn_row), in_qkv(theta, nq, 1)],
                [&pooled, &d_scores, &d_qkv],
            )?,
            input_residual: add("input residual", b.grad_output, b.grad_input)?,
            qkv: qkv_layer,
            pool: pool_layer,
            w: w_layer,
            _scratch: vec![qkv, pooled, attn, y, d_qkv, d_pooled, d_scores, dy],
        })
    }

    /// The forward pass's parts in order, by name (see
    /// [`NonLocalLayer::record_forward_part`]).
    pub const FORWARD_PARTS: [&'static str; 6] =
        ["θφg conv", "pool", "attention", "mix", "W conv", "residual"];

    /// The backward pass's parts in order, by name (see
    /// [`NonLocalLayer::record_backward_part`]).
    pub const BACKWARD_PARTS: [&'static str; 8] = [
        "∂W conv",
        "∂scores",
        "∂φ",
        "∂g",
        "∂pool",
        "∂θ",
        "∂θφg conv",
        "∂residual",
    ];

    /// Its convolutions' weight views (see [`ConvLayer::record_weight_views`]).
    pub fn record_weight_views(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        for conv in [&self.qkv, &self.pool, &self.w] {
            conv.record_weight_views(gpu, pass);
        }
    }

    /// output = W(softmax(θᵀφ) gᵀ) + input, with the weight views as last recorded.
    pub fn record_forward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        for part in 0..Self::FORWARD_PARTS.len() {
            self.record_forward_part(gpu, pass, part);
        }
    }

    /// Part `part` of the forward pass alone (benchmarks time each; the
    /// parts before it must have run, and the weight views been made since
    /// the parameters last changed).
    pub fn record_forward_part(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, part: usize) {
        match part {
            0 => self.qkv.record_forward(gpu, pass),
            1 => self.pool.record_forward(gpu, pass),
            2 => self.attention.record(gpu, pass),
            3 => self.mix.record(gpu, pass),
            4 => self.w.record_forward(gpu, pass),
            5 => self.residual.record(gpu, pass),
            _ => unreachable!("a non-local block's forward pass has 6 parts"),
        }
    }

    /// Parameter gradients (if `params`) and ∂L/∂input (if `input`) from
    /// ∂L/∂output; needs a recorded forward pass on the same input.
    pub fn record_backward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, params: bool, input: bool) {
        for part in 0..Self::BACKWARD_PARTS.len() {
            self.record_backward_part(gpu, pass, part, params, input);
        }
    }

    /// Part `part` of the backward pass alone (benchmarks time each; the
    /// forward pass and the parts before it must have run).
    pub fn record_backward_part(
        &self,
        gpu: &Gpu,
        pass: &mut wgpu::ComputePass,
        part: usize,
        params: bool,
        input: bool,
    ) {
        match part {
            0 => self.w.record_backward(gpu, pass, params, true),
            1 => self.scores_grad.record(gpu, pass),
            2 => self.phi_grad.record(gpu, pass),
            3 => self.g_grad.record(gpu, pass),
            4 => self.pool.record_backward(gpu, pass, false, true),
            5 => self.theta_grad.record(gpu, pass),
            6 => self.qkv.record_backward(gpu, pass, params, input),
            7 if input => self.input_residual.record(gpu, pass),
            7 => {}
            _ => unreachable!("a non-local block's backward pass has 8 parts"),
        }
    }
}
