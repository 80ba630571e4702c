//! Rung 1 of the verification ladder: the CPU reference's gradients against
//! central finite differences in f64, for every layer type and for whole
//! ToyNet and VanillaNet, input and parameter gradients.
//!
//! Every layer but the non-local block is piecewise linear in each input and
//! parameter (LeakyReLU and max-pooling are the only non-linearities), so
//! central differences are exact up to rounding (≈ 1e-16·|loss terms| / h ≈
//! 1e-9) unless a step crosses a kink; a small h makes that unlikely even in
//! a whole network (h = 1e-5 did cross one in VanillaNet). The non-local
//! block's softmax is smooth: its central-difference error is O(h²) ≈ 1e-14.
//! Tolerance 1e-7 + 1e-7·|g| leaves ~100× room. The difference is taken
//! output by output, Σ (F₊ − F₋)·upstream: outputs a step does not reach
//! cancel exactly, where the difference of the two summed losses carried
//! the rounding of every term (in the doctor's 64-channel case, 1.4e-7 on
//! one input). Parameters come from
//! `check_params`, so the block's W is not zero and its attention is tested.

use ebmscope::doctor::{layer_cases, net_cases};
use ebmscope::model::{ConvGeometry, NetSpec, check_params};
use ebmscope::reference::{
    ReferenceNet, conv2d_forward, conv2d_input_grad, conv2d_weight_grad, leaky_relu_backward,
    leaky_relu_forward,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const H: f64 = 1e-7;
const TOL_ABS: f64 = 1e-7;
const TOL_REL: f64 = 1e-7;

struct Problem {
    net: ReferenceNet,
    batch: usize,
    params: Vec<f64>,
    x: Vec<f64>,
    upstream: Vec<f64>,
}

impl Problem {
    fn new(spec: &NetSpec, batch: usize, seed: u64) -> Self {
        let net = ReferenceNet::new(spec).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let params = check_params(spec, seed)
            .unwrap()
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let in_len: usize = spec.input.iter().product();
        let out_len: usize = spec.output_shape().unwrap().iter().product();
        let x = (0..batch * in_len).map(|_| rng.random_range(-1.0..1.0)).collect();
        let upstream = (0..batch * out_len)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Problem {
            net,
            batch,
            params,
            x,
            upstream,
        }
    }

    /// (loss(up) − loss(down)) / 2h for loss = Σ output·upstream, output by output.
    fn central_difference(&self, up: (&[f64], &[f64]), down: (&[f64], &[f64])) -> f64 {
        let plus = self.net.forward(up.0, self.batch, up.1);
        let minus = self.net.forward(down.0, self.batch, down.1);
        let diff: f64 = plus
            .iter()
            .zip(&minus)
            .zip(&self.upstream)
            .map(|((p, m), u)| (p - m) * u)
            .sum();
        diff / (2.0 * H)
    }

    /// Check analytic gradients at `param_idx` and `input_idx` against central differences.
    fn check(&self, what: &str, param_idx: &[usize], input_idx: &[usize]) {
        let (_, grads) = self
            .net
            .backward(&self.params, self.batch, &self.x, &self.upstream);
        let mut checked = 0;
        for &i in param_idx {
            let (mut up, mut down) = (self.params.clone(), self.params.clone());
            up[i] += H;
            down[i] -= H;
            let fd = self.central_difference((&up, &self.x), (&down, &self.x));
            assert_close(what, "param", i, fd, grads.params[i]);
            checked += 1;
        }
        for &i in input_idx {
            let (mut up, mut down) = (self.x.clone(), self.x.clone());
            up[i] += H;
            down[i] -= H;
            let fd = self.central_difference((&self.params, &up), (&self.params, &down));
            assert_close(what, "input", i, fd, grads.input[i]);
            checked += 1;
        }
        assert!(checked > 0, "{what}: nothing was checked");
    }
}

fn assert_close(what: &str, kind: &str, i: usize, fd: f64, analytic: f64) {
    let err = (fd - analytic).abs();
    assert!(
        err <= TOL_ABS + TOL_REL * analytic.abs(),
        "{what}: {kind} {i}: finite difference {fd:.12e}, analytic {analytic:.12e} (err {err:.2e})"
    );
}

/// Up to `n` indices spread over each parameter tensor (all of a small one).
fn param_sample(net: &ReferenceNet, n: usize) -> Vec<usize> {
    let mut idx = Vec::new();
    for t in &net.layout.tensors {
        let step = t.len.div_ceil(n).max(1);
        idx.extend((0..t.len).step_by(step).map(|j| t.offset + j));
        idx.push(t.offset + t.len - 1);
    }
    idx
}

#[test]
fn every_layer_case_matches_finite_differences() {
    for (k, case) in layer_cases().iter().enumerate() {
        let p = Problem::new(&case.spec, case.batch, 7 + k as u64);
        // Every parameter and input of the small cases; of the large ones
        // (the 64-channel convolution: 37 000 parameters, each two
        // evaluations of the layer) a spread of 200 per tensor and 1 in 7 inputs.
        let params: Vec<_> = if p.params.len() <= 5_000 {
            (0..p.params.len()).collect()
        } else {
            param_sample(&p.net, 200)
        };
        let step = if p.x.len() <= 1_000 { 1 } else { 7 };
        let inputs: Vec<_> = (0..p.x.len()).step_by(step).collect();
        p.check(&case.name, &params, &inputs);
    }
}

#[test]
fn toy_net_matches_finite_differences() {
    let p = Problem::new(&NetSpec::toy(), 5, 11);
    let all_inputs: Vec<_> = (0..p.x.len()).collect();
    p.check("ToyNet", &param_sample(&p.net, 60), &all_inputs);
}

#[test]
fn vanilla_net_matches_finite_differences() {
    let p = Problem::new(&NetSpec::vanilla(3, 4).unwrap(), 2, 13);
    let inputs: Vec<_> = (0..p.x.len()).step_by(41).collect();
    p.check("VanillaNet(3, 4)", &param_sample(&p.net, 12), &inputs);
}

#[test]
fn nonlocal_net_matches_finite_differences() {
    let p = Problem::new(&NetSpec::nonlocal(2, 2).unwrap(), 2, 17);
    let inputs: Vec<_> = (0..p.x.len()).step_by(37).collect();
    p.check("NonlocalNet(2, 2)", &param_sample(&p.net, 8), &inputs);
}

#[test]
fn network_cases_of_the_doctor_are_valid_networks() {
    for case in net_cases().unwrap() {
        assert_eq!(case.spec.output_shape().unwrap(), [1, 1, 1], "{}", case.name);
    }
}

/// A convolution small enough to do by hand: 1 channel, 3×3 input, 2×2 kernel.
#[test]
fn conv_small_exact_case() {
    let g = ConvGeometry::conv(1, [3, 3], 1, 2, 1, 0, false).unwrap();
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let w = [1.0, 0.0, 0.0, -1.0]; // x[y][x] − x[y+1][x+1]
    let z = conv2d_forward(&g, 1, &x, &w, &[0.5]);
    assert_eq!(z, vec![-3.5, -3.5, -3.5, -3.5]);
    // Gradient of Σ z: each input counts once per output it feeds, times its tap weight.
    let dx = conv2d_input_grad(&g, 1, &[1.0; 4], &w);
    assert_eq!(dx, vec![1.0, 1.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, -1.0]);
    let (dw, db) = conv2d_weight_grad(&g, 1, &x, &[1.0; 4]);
    assert_eq!(dw, vec![12.0, 16.0, 24.0, 28.0]);
    assert_eq!(db, vec![4.0]);
}

/// Stride 2, padding 1 on a 2×2 input with a 3×3 kernel: one output sees the
/// four inputs through the kernel's bottom-right 2×2 taps.
#[test]
fn conv_padding_and_stride_exact_case() {
    let g = ConvGeometry::conv(1, [2, 2], 1, 3, 2, 1, false).unwrap();
    assert_eq!((g.h_out, g.w_out), (1, 1));
    let w: Vec<f64> = (1..=9).map(f64::from).collect();
    let z = conv2d_forward(&g, 1, &[1.0, 10.0, 100.0, 1000.0], &w, &[0.0]);
    assert_eq!(z, vec![5.0 + 60.0 + 800.0 + 9000.0]);
}

#[test]
fn leaky_relu_exact_values() {
    let slope = f64::from(ebmscope::model::LEAKY_SLOPE);
    assert_eq!(slope, f64::from(0.05f32));
    assert_eq!(
        leaky_relu_forward(&[2.0, -2.0, 0.0]),
        vec![2.0, -2.0 * slope, 0.0]
    );
    // PyTorch's derivative at 0 is the negative slope.
    assert_eq!(
        leaky_relu_backward(&[2.0, -2.0, 0.0], &[3.0; 3]),
        vec![3.0, 3.0 * slope, 3.0 * slope]
    );
}
