use super::layers::{
    conv2d_forward, conv2d_input_grad, conv2d_weight_grad, leaky_relu_backward, leaky_relu_forward,
    max_pool2_backward, max_pool2_forward,
};
use super::nonlocal::{NonLocalWeights, non_local_backward, non_local_forward};
use crate::Result;
use crate::model::{ConvGeometry, ConvSlot, GeometryKind, NetSpec, ParamLayout};

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

/// (weight, bias) of the convolution `g` whose parameters start at `slot`.
fn conv_slices<'p>(params: &'p [f64], slot: ConvSlot, g: &ConvGeometry) -> (&'p [f64], &'p [f64]) {
    (
        &params[slot.weight..slot.weight + g.weight_len()],
        &params[slot.bias..slot.bias + g.c_out],
    )
}

impl ReferenceNet {
    pub fn new(spec: &NetSpec) -> Result<Self> {
        Ok(ReferenceNet {
            geometry: spec.geometry()?,
            layout: spec.param_layout()?,
        })
    }

    /// (weight, bias) of convolution layer `i`.
    fn conv_params<'p>(&self, params: &'p [f64], i: usize) -> (&'p [f64], &'p [f64]) {
        conv_slices(params, self.layout.layer_convs[i][0], &self.geometry[i])
    }

    /// The parameters of non-local block `i`, with its [θφg, W] slots.
    fn non_local_params<'p>(&self, params: &'p [f64], i: usize) -> (NonLocalWeights<'p>, [ConvSlot; 2]) {
        let g = &self.geometry[i];
        let parts = g
            .non_local_parts()
            .expect("a non-local layer has non-local geometry");
        let slots = [self.layout.layer_convs[i][0], self.layout.layer_convs[i][1]];
        let (qkv_weight, qkv_bias) = conv_slices(params, slots[0], &parts.qkv);
        let (w_weight, w_bias) = conv_slices(params, slots[1], &parts.w);
        let weights = NonLocalWeights {
            qkv_weight,
            qkv_bias,
            w_weight,
            w_bias,
        };
        (weights, slots)
    }

    fn trace(&self, params: &[f64], batch: usize, x: &[f64]) -> Trace {
        let mut inputs = Vec::new();
        let mut pre = Vec::new();
        let mut a = x.to_vec();
        for (i, g) in self.geometry.iter().enumerate() {
            let z = match g.kind {
                GeometryKind::MaxPool2 => max_pool2_forward(g, batch, &a),
                GeometryKind::NonLocal => {
                    non_local_forward(g, batch, &a, &self.non_local_params(params, i).0)
                }
                GeometryKind::Conv => {
                    let (w, b) = self.conv_params(params, i);
                    conv2d_forward(g, batch, &a, w, b)
                }
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
        let mut put = |slot: ConvSlot, (dw, db): (Vec<f64>, Vec<f64>)| {
            grad_params[slot.weight..slot.weight + dw.len()].copy_from_slice(&dw);
            grad_params[slot.bias..slot.bias + db.len()].copy_from_slice(&db);
        };
        let mut da = upstream.to_vec();
        for (i, g) in self.geometry.iter().enumerate().rev() {
            let dz = if g.leaky_relu {
                leaky_relu_backward(&t.pre[i], &da)
            } else {
                da
            };
            da = match g.kind {
                GeometryKind::MaxPool2 => max_pool2_backward(g, batch, &t.inputs[i], &dz),
                GeometryKind::NonLocal => {
                    let (weights, [qkv_slot, w_slot]) = self.non_local_params(params, i);
                    let grads = non_local_backward(g, batch, &t.inputs[i], &weights, &dz);
                    put(qkv_slot, grads.qkv);
                    put(w_slot, grads.w);
                    grads.input
                }
                GeometryKind::Conv => {
                    put(
                        self.layout.layer_convs[i][0],
                        conv2d_weight_grad(g, batch, &t.inputs[i], &dz),
                    );
                    conv2d_input_grad(g, batch, &dz, self.conv_params(params, i).0)
                }
            };
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
