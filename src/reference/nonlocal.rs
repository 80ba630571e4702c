//! The non-local block on the CPU in f64, composed from the reference
//! convolution and max-pooling so that only the attention is new here.

use super::layers::{
    conv2d_forward, conv2d_input_grad, conv2d_weight_grad, max_pool2_backward, max_pool2_forward,
};
use crate::model::{ConvGeometry, NonLocalParts};

/// Parameters of one block: θφg stacked ([3·C/2, C] weight, [3·C/2] bias) and W.
pub struct NonLocalWeights<'p> {
    pub qkv_weight: &'p [f64],
    pub qkv_bias: &'p [f64],
    pub w_weight: &'p [f64],
    pub w_bias: &'p [f64],
}

/// Gradients of one block: ∂L/∂x, then (weight, bias) of θφg and of W.
pub struct NonLocalGrads {
    pub input: Vec<f64>,
    pub qkv: (Vec<f64>, Vec<f64>),
    pub w: (Vec<f64>, Vec<f64>),
}

/// What the forward pass keeps for the backward pass.
struct Trace {
    /// θ, φ, g before pooling: [B, 3i, H, W] (θ in channels 0..i).
    qkv: Vec<f64>,
    /// The same stack pooled: [B, 3i, H/2, W/2] (φ in i..2i, g in 2i..3i).
    pooled: Vec<f64>,
    /// Softmax over keys: [B, queries, keys].
    attn: Vec<f64>,
    /// y = attn · gᵀ: [B, i, H, W].
    y: Vec<f64>,
}

fn parts(g: &ConvGeometry) -> NonLocalParts {
    g.non_local_parts()
        .expect("the reference non-local block needs a non-local geometry")
}

fn trace(p: &NonLocalParts, batch: usize, x: &[f64], w: &NonLocalWeights) -> Trace {
    let (i, nq, nk) = (p.inter, p.queries, p.keys);
    let qkv = conv2d_forward(&p.qkv, batch, x, w.qkv_weight, w.qkv_bias);
    let pooled = max_pool2_forward(&p.pool, batch, &qkv);
    let theta = |b: usize, c: usize, q: usize| qkv[(b * 3 * i + c) * nq + q];
    let key = |b: usize, c: usize, k: usize| pooled[(b * 3 * i + c) * nk + k];
    let mut attn = vec![0.0; batch * nq * nk];
    let mut y = vec![0.0; batch * i * nq];
    for b in 0..batch {
        for q in 0..nq {
            let row = &mut attn[(b * nq + q) * nk..(b * nq + q + 1) * nk];
            for (k, f) in row.iter_mut().enumerate() {
                *f = (0..i).map(|c| theta(b, c, q) * key(b, i + c, k)).sum();
            }
            // Softmax with the row maximum subtracted, so exp cannot overflow.
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            row.iter_mut().for_each(|f| *f = (*f - max).exp());
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|f| *f /= sum);
            for c in 0..i {
                y[(b * i + c) * nq + q] = row
                    .iter()
                    .enumerate()
                    .map(|(k, a)| a * key(b, 2 * i + c, k))
                    .sum();
            }
        }
    }
    Trace { qkv, pooled, attn, y }
}

/// z = W(softmax(θᵀφ) gᵀ) + x for a batch of [C, H, W] images.
pub fn non_local_forward(g: &ConvGeometry, batch: usize, x: &[f64], w: &NonLocalWeights) -> Vec<f64> {
    let p = parts(g);
    let t = trace(&p, batch, x, w);
    let mut z = conv2d_forward(&p.w, batch, &t.y, w.w_weight, w.w_bias);
    z.iter_mut().zip(x).for_each(|(z, x)| *z += x);
    z
}

/// Gradients of L given ∂L/∂z, by the chain rule through W, the attention,
/// the pooling and θφg; the residual passes ∂L/∂z straight to ∂L/∂x.
pub fn non_local_backward(
    g: &ConvGeometry,
    batch: usize,
    x: &[f64],
    w: &NonLocalWeights,
    dz: &[f64],
) -> NonLocalGrads {
    let p = parts(g);
    let (i, nq, nk) = (p.inter, p.queries, p.keys);
    let t = trace(&p, batch, x, w);
    let w_grads = conv2d_weight_grad(&p.w, batch, &t.y, dz);
    let dy = conv2d_input_grad(&p.w, batch, dz, w.w_weight);
    let at_q = |b: usize, c: usize, q: usize| (b * 3 * i + c) * nq + q;
    let at_k = |b: usize, c: usize, k: usize| (b * 3 * i + c) * nk + k;
    let at_a = |b: usize, q: usize, k: usize| (b * nq + q) * nk + k;
    let dy_at = |b: usize, c: usize, q: usize| dy[(b * i + c) * nq + q];
    // ∂L/∂(scores): softmax backward, dF = A ⊙ (dA − Σ_k A dA) row by row.
    let mut d_scores = vec![0.0; batch * nq * nk];
    for b in 0..batch {
        for q in 0..nq {
            let d_attn: Vec<f64> = (0..nk)
                .map(|k| {
                    (0..i)
                        .map(|c| dy_at(b, c, q) * t.pooled[at_k(b, 2 * i + c, k)])
                        .sum()
                })
                .collect();
            let dot: f64 = (0..nk).map(|k| t.attn[at_a(b, q, k)] * d_attn[k]).sum();
            for k in 0..nk {
                d_scores[at_a(b, q, k)] = t.attn[at_a(b, q, k)] * (d_attn[k] - dot);
            }
        }
    }
    // φ and g receive their gradients pooled; θ's pooled channels are unused.
    let mut d_pooled = vec![0.0; batch * 3 * i * nk];
    for b in 0..batch {
        for c in 0..i {
            for k in 0..nk {
                d_pooled[at_k(b, i + c, k)] = (0..nq)
                    .map(|q| d_scores[at_a(b, q, k)] * t.qkv[at_q(b, c, q)])
                    .sum();
                d_pooled[at_k(b, 2 * i + c, k)] =
                    (0..nq).map(|q| t.attn[at_a(b, q, k)] * dy_at(b, c, q)).sum();
            }
        }
    }
    let mut d_qkv = max_pool2_backward(&p.pool, batch, &t.qkv, &d_pooled);
    for b in 0..batch {
        for c in 0..i {
            for q in 0..nq {
                d_qkv[at_q(b, c, q)] = (0..nk)
                    .map(|k| d_scores[at_a(b, q, k)] * t.pooled[at_k(b, i + c, k)])
                    .sum();
            }
        }
    }
    let qkv_grads = conv2d_weight_grad(&p.qkv, batch, x, &d_qkv);
    let mut dx = conv2d_input_grad(&p.qkv, batch, &d_qkv, w.qkv_weight);
    dx.iter_mut().zip(dz).for_each(|(dx, dz)| *dx += dz);
    NonLocalGrads {
        input: dx,
        qkv: qkv_grads,
        w: w_grads,
    }
}
