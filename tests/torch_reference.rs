//! The networks against PyTorch's own (scripts/torch_fixtures.py, from
//! nets written from PAPER.md: Conv2d, MaxPool2d, Linear, softmax and
//! LeakyReLU as PyTorch computes them): F(x) and ∇x F of ToyNet,
//! VanillaNet and NonlocalNet (its W not zero, so that the attention
//! reaches F) for the same float32 weights and inputs, PyTorch's in
//! float64. The CPU reference is held to float64 agreement (what is left
//! is the fixture's rounding: its values are stored as float64); the GPU
//! to the whole-network tolerance that the doctor holds it to against the
//! reference.

mod common;

use ebmscope::compare::compare;
use ebmscope::doctor::NET_TOL;
use ebmscope::io::{load_params, read_tensor};
use ebmscope::model::{Backward, GpuNet, NetSpec};
use ebmscope::reference::ReferenceNet;

/// The reference's largest error allowed, as a share of the largest
/// value: both sides compute in float64 from the same float32 numbers and
/// differ only in the order of their sums (measured: ≤ 1.1e-15, 1 000×
/// below it); a wrong layout, padding or axis is off by O(1).
const FLOAT64_SHARE: f64 = 1e-12;

/// The fixture `name`'s weights (as `spec`'s parameters), input x and
/// PyTorch's F(x) and ∇x F.
fn fixture(name: &str, spec: &NetSpec) -> (Vec<f32>, Vec<f32>, Vec<f64>, Vec<f64>) {
    let layout = spec.param_layout().unwrap();
    let weights = common::torch_fixture(&format!("energies-{name}.safetensors"));
    let params = load_params(&weights, &layout, String::new).unwrap();
    let io = common::torch_fixture(&format!("energies-{name}-io.safetensors"));
    let f64_values = |t: &str| -> Vec<f64> {
        let bytes = std::fs::read(&io).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let view = st.tensor(t).unwrap();
        assert_eq!(view.dtype(), safetensors::Dtype::F64, "{t}");
        view.data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let x = read_tensor(&io, "x").unwrap().data;
    (params, x, f64_values("energy"), f64_values("grad"))
}

fn nets() -> [(&'static str, NetSpec); 3] {
    [
        ("toy", NetSpec::toy()),
        ("vanilla", NetSpec::vanilla(1, 2).unwrap()),
        ("nonlocal", NetSpec::nonlocal(3, 2).unwrap()),
    ]
}

#[test]
fn the_reference_computes_pytorchs_energies_and_gradients() {
    for (name, spec) in nets() {
        let (params, x, energy, grad) = fixture(name, &spec);
        let batch = energy.len();
        let f64s = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
        let net = ReferenceNet::new(&spec).unwrap();
        let (got, grads) = net.backward(&f64s(&params), batch, &f64s(&x), &vec![1.0; batch]);
        for (what, got, want) in [("F", &got, &energy), ("∇x F", &grads.input, &grad)] {
            assert_eq!(got.len(), want.len(), "{name} {what}");
            let worst = got
                .iter()
                .zip(want)
                .map(|(g, w)| (g - w).abs())
                .fold(0.0, f64::max);
            let largest = want.iter().map(|w| w.abs()).fold(0.0, f64::max);
            assert!(
                largest > 0.0 && worst <= FLOAT64_SHARE * largest,
                "{name} {what}: off by {worst:e}, its largest value {largest:e}"
            );
        }
    }
}

#[test]
fn the_gpu_computes_pytorchs_energies_and_gradients() {
    let gpu = common::gpu();
    for (name, spec) in nets() {
        let (params, x, energy, grad) = fixture(name, &spec);
        let batch = energy.len();
        let net = GpuNet::new(&gpu, &spec, batch).unwrap();
        net.write_params(&gpu, &params).unwrap();
        net.write_input(&gpu, &x).unwrap();
        net.write_upstream(&gpu, &vec![1.0; batch]).unwrap();
        net.run(&gpu, Backward::INPUT);
        for (what, got, want) in [
            ("F", net.read_output(&gpu).unwrap(), &energy),
            ("∇x F", net.read_input_grad(&gpu).unwrap(), &grad),
        ] {
            let c = compare(&got, want, NET_TOL);
            assert!(c.passed(), "{name} {what}: {c:?} ({})", NET_TOL.reason);
        }
    }
}
