//! CPU twins of optimizer_step.wgsl, in f64, following torch.optim.SGD
//! (no momentum) and torch.optim.Adam (with bias correction).

pub fn sgd_step(params: &mut [f64], grads: &[f64], lr: f64) {
    for (p, g) in params.iter_mut().zip(grads) {
        *p -= lr * g;
    }
}

/// Adam's state: first and second moments and the number of steps taken.
#[derive(Clone, Debug, Default)]
pub struct AdamState {
    pub m: Vec<f64>,
    pub v: Vec<f64>,
    pub t: i32,
}

pub fn adam_step(
    params: &mut [f64],
    grads: &[f64],
    s: &mut AdamState,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
) {
    if s.m.len() != params.len() {
        s.m = vec![0.0; params.len()];
        s.v = vec![0.0; params.len()];
    }
    s.t += 1;
    let c1 = 1.0 - beta1.powi(s.t);
    let c2 = 1.0 - beta2.powi(s.t);
    for i in 0..params.len() {
        s.m[i] = beta1 * s.m[i] + (1.0 - beta1) * grads[i];
        s.v[i] = beta2 * s.v[i] + (1.0 - beta2) * grads[i] * grads[i];
        params[i] -= lr / c1 * s.m[i] / (s.v[i].sqrt() / c2.sqrt() + eps);
    }
}
