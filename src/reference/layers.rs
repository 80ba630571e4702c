use crate::model::{ConvGeometry, LEAKY_SLOPE};

/// Offset of (b, c, y, x) in an NCHW tensor with C channels of H×W.
fn at(c_count: usize, h: usize, w: usize, b: usize, c: usize, y: usize, x: usize) -> usize {
    ((b * c_count + c) * h + y) * w + x
}

/// Input position read by output position `o` through kernel tap `k`, if inside.
fn tap(o: usize, k: usize, g: &ConvGeometry, size: usize) -> Option<usize> {
    (o * g.stride + k).checked_sub(g.padding).filter(|&i| i < size)
}

/// Convolution (cross-correlation, zero padding) of `batch` images, before
/// any activation: z[b, co, oy, ox] = bias[co] + Σ x · w.
pub fn conv2d_forward(g: &ConvGeometry, batch: usize, x: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let k = g.kernel;
    let mut z = vec![0.0; batch * g.out_len()];
    for b in 0..batch {
        for co in 0..g.c_out {
            for oy in 0..g.h_out {
                for ox in 0..g.w_out {
                    let mut acc = bias[co];
                    for ci in 0..g.c_in {
                        for ky in 0..k {
                            let Some(iy) = tap(oy, ky, g, g.h_in) else {
                                continue;
                            };
                            for kx in 0..k {
                                let Some(ix) = tap(ox, kx, g, g.w_in) else {
                                    continue;
                                };
                                acc += x[at(g.c_in, g.h_in, g.w_in, b, ci, iy, ix)]
                                    * w[at(g.c_in, k, k, co, ci, ky, kx)];
                            }
                        }
                    }
                    z[at(g.c_out, g.h_out, g.w_out, b, co, oy, ox)] = acc;
                }
            }
        }
    }
    z
}

/// ∂L/∂x of the convolution given ∂L/∂z.
pub fn conv2d_input_grad(g: &ConvGeometry, batch: usize, dz: &[f64], w: &[f64]) -> Vec<f64> {
    let k = g.kernel;
    let mut dx = vec![0.0; batch * g.in_len()];
    for b in 0..batch {
        for co in 0..g.c_out {
            for oy in 0..g.h_out {
                for ox in 0..g.w_out {
                    let d = dz[at(g.c_out, g.h_out, g.w_out, b, co, oy, ox)];
                    for ci in 0..g.c_in {
                        for ky in 0..k {
                            let Some(iy) = tap(oy, ky, g, g.h_in) else {
                                continue;
                            };
                            for kx in 0..k {
                                let Some(ix) = tap(ox, kx, g, g.w_in) else {
                                    continue;
                                };
                                dx[at(g.c_in, g.h_in, g.w_in, b, ci, iy, ix)] +=
                                    d * w[at(g.c_in, k, k, co, ci, ky, kx)];
                            }
                        }
                    }
                }
            }
        }
    }
    dx
}

/// (∂L/∂w, ∂L/∂bias) of the convolution given its input x and ∂L/∂z,
/// summed over the batch.
pub fn conv2d_weight_grad(g: &ConvGeometry, batch: usize, x: &[f64], dz: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let k = g.kernel;
    let mut dw = vec![0.0; g.weight_len()];
    let mut db = vec![0.0; g.c_out];
    for b in 0..batch {
        for co in 0..g.c_out {
            for oy in 0..g.h_out {
                for ox in 0..g.w_out {
                    let d = dz[at(g.c_out, g.h_out, g.w_out, b, co, oy, ox)];
                    db[co] += d;
                    for ci in 0..g.c_in {
                        for ky in 0..k {
                            let Some(iy) = tap(oy, ky, g, g.h_in) else {
                                continue;
                            };
                            for kx in 0..k {
                                let Some(ix) = tap(ox, kx, g, g.w_in) else {
                                    continue;
                                };
                                dw[at(g.c_in, k, k, co, ci, ky, kx)] +=
                                    d * x[at(g.c_in, g.h_in, g.w_in, b, ci, iy, ix)];
                            }
                        }
                    }
                }
            }
        }
    }
    (dw, db)
}

/// LeakyReLU with PyTorch's slope convention (slope 0.05).
pub fn leaky_relu_forward(z: &[f64]) -> Vec<f64> {
    let slope = f64::from(LEAKY_SLOPE);
    z.iter().map(|&v| if v > 0.0 { v } else { slope * v }).collect()
}

/// ∂L/∂z of LeakyReLU given its input z and ∂L/∂a (derivative `slope` at 0, as PyTorch).
pub fn leaky_relu_backward(z: &[f64], da: &[f64]) -> Vec<f64> {
    let slope = f64::from(LEAKY_SLOPE);
    z.iter()
        .zip(da)
        .map(|(&v, &d)| if v > 0.0 { d } else { slope * d })
        .collect()
}

/// 2×2 max-pooling with stride 2 (sizes rounded down), as PyTorch MaxPool2d(2).
pub fn max_pool2_forward(g: &ConvGeometry, batch: usize, x: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; batch * g.out_len()];
    for b in 0..batch {
        for c in 0..g.c_in {
            for oy in 0..g.h_out {
                for ox in 0..g.w_out {
                    let (_, _, v) = window_max(g, x, b, c, oy, ox);
                    y[at(g.c_out, g.h_out, g.w_out, b, c, oy, ox)] = v;
                }
            }
        }
    }
    y
}

/// ∂L/∂x of 2×2 max-pooling: each window's gradient goes to its first
/// maximum in row-major order (PyTorch's choice on ties); inputs outside
/// every window (odd sizes) get none.
pub fn max_pool2_backward(g: &ConvGeometry, batch: usize, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let mut dx = vec![0.0; batch * g.in_len()];
    for b in 0..batch {
        for c in 0..g.c_in {
            for oy in 0..g.h_out {
                for ox in 0..g.w_out {
                    let (iy, ix, _) = window_max(g, x, b, c, oy, ox);
                    dx[at(g.c_in, g.h_in, g.w_in, b, c, iy, ix)] +=
                        dy[at(g.c_out, g.h_out, g.w_out, b, c, oy, ox)];
                }
            }
        }
    }
    dx
}

/// (row, column, value) of the first maximum of window (oy, ox).
fn window_max(g: &ConvGeometry, x: &[f64], b: usize, c: usize, oy: usize, ox: usize) -> (usize, usize, f64) {
    let mut best = (2 * oy, 2 * ox, f64::NEG_INFINITY);
    for dy in 0..2 {
        for dx in 0..2 {
            let (iy, ix) = (2 * oy + dy, 2 * ox + dx);
            let v = x[at(g.c_in, g.h_in, g.w_in, b, c, iy, ix)];
            if v > best.2 {
                best = (iy, ix, v);
            }
        }
    }
    best
}
