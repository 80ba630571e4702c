use super::layers::{
    conv2d_forward, conv2d_input_grad, conv2d_weight_grad, leaky_relu_backward, leaky_relu_forward,
    max_pool2_backward, max_pool2_forward,
};
use crate::Result;
use crate::model::{ConvGeometry, NetSpec, ParamLayout};

/// A network evaluated on the CPU in f64, from the same spec as the GPU plan.
pub struct ReferenceNet {
    pub geometry: Vec<ConvGeometry>,
    pub layout: ParamLayout,
}

/// Gradients of L = Σ_b Σ_j upstream[b, j] · out[b, j].
pub struct NetworkGrads {
    /// ∂L/∂x, same layout as the input batch.
    pub input: Vec<f64>,
    /// ∂L/∂θ in the flat parameter layout.
    pub params: Vec<f64>,
}

/// Activations kept by the forward pass: pre-activations z and outputs a of each layer.
struct Trace {
    inputs: Vec<Vec<f64>>,
    pre: Vec<Vec<f64>>,
    out: Vec<f64>,
}

impl ReferenceNet {
    pub fn new(spec: &NetSpec) -> Result<Self> {
        Ok(ReferenceNet {
            geometry: spec.geometry()?,
            layout: spec.param_layout()?,
        })
    }

    /// (weight, bias) slices of layer `i` in the flat parameter vector
    /// (empty for a layer without parameters).
    fn layer_params<'p>(&self, params: &'p [f64], i: usize) -> (&'p [f64], &'p [f64]) {
        match self.layout.layer(i) {
            Some((w, b)) => (
                &params[w.offset..w.offset + w.len],
                &params[b.offset..b.offset + b.len],
            ),
            None => (&[], &[]),
        }
    }

    fn trace(&self, params: &[f64], batch: usize, x: &[f64]) -> Trace {
        let mut inputs = Vec::new();
        let mut pre = Vec::new();
        let mut a = x.to_vec();
        for (i, g) in self.geometry.iter().enumerate() {
            let (w, b) = self.layer_params(params, i);
            let z = if g.max_pool {
                max_pool2_forward(g, batch, &a)
            } else {
                conv2d_forward(g, batch, &a, w, b)
            };
            let next = if g.leaky_relu {
                leaky_relu_forward(&z)
            } else {
                z.clone()
            };
            inputs.push(std::mem::replace(&mut a, next));
            pre.push(z);
        }
        Trace { inputs, pre, out: a }
    }

    /// Output of the last layer for a batch (for a network: F(x), one per image).
    pub fn forward(&self, params: &[f64], batch: usize, x: &[f64]) -> Vec<f64> {
        self.trace(params, batch, x).out
    }

    /// Output and the gradients of Σ upstream · output.
    pub fn backward(
        &self,
        params: &[f64],
        batch: usize,
        x: &[f64],
        upstream: &[f64],
    ) -> (Vec<f64>, NetworkGrads) {
        let t = self.trace(params, batch, x);
        let mut grad_params = vec![0.0; self.layout.total];
        let mut da = upstream.to_vec();
        for (i, g) in self.geometry.iter().enumerate().rev() {
            if g.max_pool {
                da = max_pool2_backward(g, batch, &t.inputs[i], &da);
                continue;
            }
            let dz = if g.leaky_relu {
                leaky_relu_backward(&t.pre[i], &da)
            } else {
                da
            };
            let (dw, db) = conv2d_weight_grad(g, batch, &t.inputs[i], &dz);
            if let Some((ws, bs)) = self.layout.layer(i) {
                grad_params[ws.offset..ws.offset + ws.len].copy_from_slice(&dw);
                grad_params[bs.offset..bs.offset + bs.len].copy_from_slice(&db);
            }
            let (w, _) = self.layer_params(params, i);
            da = conv2d_input_grad(g, batch, &dz, w);
        }
        (
            t.out,
            NetworkGrads {
                input: da,
                params: grad_params,
            },
        )
    }
}
