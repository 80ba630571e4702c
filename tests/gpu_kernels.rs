//! Rungs 2 and 3 of the verification ladder: every GPU kernel, and whole
//! networks, against the CPU reference on the test adapter, with the
//! tolerances of `ebmscope::doctor` (their reasons are written there).

mod common;

/// A 3×3 convolution, stride 1, padding 1.
const CONV3X3_PAD1: LayerOp = LayerOp::conv(3, 1, 1);

/// Every choice of convolution kernels (see `ConvKernels`).
const ALL_CONV_KERNELS: [ConvKernels; 4] = [
    ConvKernels::Direct,
    ConvKernels::Tiled,
    ConvKernels::ByShape,
    ConvKernels::Measured,
];

use ebmscope::compare::Tolerance;
use ebmscope::doctor::{
    Case, LAYER_TOL, NET_TOL, Row, Upstream, layer_cases, net_cases, run_all, run_case, sampled_images,
};
use ebmscope::gpu::ConvKernels;
use ebmscope::kernels::conv2d::{ConvParams, TiledPasses};
use ebmscope::model::{Backward, GpuNet, LayerOp, NetSpec, init_params};

fn assert_rows_pass(rows: &[Row]) {
    assert!(!rows.is_empty());
    let failures: Vec<String> = rows
        .iter()
        .filter(|r| !r.comparison.passed())
        .map(|r| format!("{} / {}: {}", r.case, r.quantity, r.comparison))
        .collect();
    assert!(
        failures.is_empty(),
        "GPU differs from the reference:\n{}",
        failures.join("\n")
    );
}

/// Both convolution kernel families (direct and tiled implicit GEMM:
/// forward, ∂/∂x, ∂/∂θ), and the two mixed by shape and by measured speed,
/// on every case.
#[test]
fn layer_kernels_match_reference() {
    let gpu = common::gpu();
    for kernels in ALL_CONV_KERNELS {
        gpu.set_conv_kernels(kernels);
        for (i, case) in layer_cases().iter().enumerate() {
            let rows = run_case(&gpu, case, 500 + i as u64).unwrap();
            let has_params = case.spec.param_layout().unwrap().total > 0;
            assert_eq!(rows.len(), 2 + usize::from(has_params), "{}", case.name);
            assert_rows_pass(&rows);
        }
    }
}

#[test]
fn whole_networks_match_reference() {
    let gpu = common::gpu();
    for kernels in ALL_CONV_KERNELS {
        gpu.set_conv_kernels(kernels);
        for (i, case) in net_cases().unwrap().iter().enumerate() {
            assert_rows_pass(&run_case(&gpu, case, 900 + i as u64).unwrap());
        }
    }
}

/// The bench's check at the batches it times: the whole batch on the GPU,
/// 8 images spread over it compared, the reference running on them alone
/// (the others' upstream 0, so ∂/∂θ is theirs alone).
#[test]
fn a_sampled_batch_matches_reference() {
    assert_eq!(sampled_images(21), [0, 2, 5, 8, 11, 14, 17, 20]);
    assert_eq!(sampled_images(3), [0, 1, 2]);
    let gpu = common::gpu();
    // A layer whose weight gradient sums chunks of several images, some
    // with compared images and some without (see below).
    let wide = NetSpec::single_layer("wide conv", [128, 7, 7], CONV3X3_PAD1, 128, true);
    let g = wide.geometry().unwrap()[0];
    let p = ConvParams::new(&g, 21, 0, g.weight_len()).unwrap();
    assert!(p.batch_chunk >= 2 && p.n_chunks >= 2, "{p:?}");
    for kernels in ALL_CONV_KERNELS {
        gpu.set_conv_kernels(kernels);
        for spec in [NetSpec::toy(), NetSpec::vanilla(3, 4).unwrap(), wide.clone()] {
            let case = Case {
                name: format!("{}, 21 images, 8 compared", spec.name),
                spec,
                batch: 21,
                upstream: Upstream::Sampled { n: 10 },
                tol: NET_TOL,
            };
            assert_rows_pass(&run_case(&gpu, &case, 31).unwrap());
        }
    }
}

/// A layer with so many weights that the weight gradient sums chunks of
/// several images (the small cases give every image its own chunk): the
/// chunks' walks over positions cross from one image into the next, inside
/// a 16-position slice of the tiled kernel (49 positions per image).
#[test]
fn weight_gradient_chunks_of_several_images_match_reference() {
    let gpu = common::gpu();
    let conv3x3 = CONV3X3_PAD1;
    let spec = NetSpec::single_layer("wide conv", [128, 7, 7], conv3x3, 128, true);
    let batch = 5;
    let g = spec.geometry().unwrap()[0];
    let p = ConvParams::new(&g, batch, 0, g.weight_len()).unwrap();
    assert!(p.batch_chunk >= 2 && p.n_chunks >= 2, "{p:?}");
    let case = Case {
        name: "conv3x3 p1, 128→128 ch, 7×7, 5 images".into(),
        spec,
        batch,
        upstream: Upstream::Random,
        // ∂/∂x sums 1 152 terms, past LAYER_TOL's ≤ 1k: NET_TOL's headroom.
        tol: NET_TOL,
    };
    direct_and_tiled_pass(&gpu, &case, 41);
}

/// `case` against the reference with the direct and with the tiled kernels.
fn direct_and_tiled_pass(gpu: &ebmscope::gpu::Gpu, case: &Case, seed: u64) {
    for kernels in [ConvKernels::Direct, ConvKernels::Tiled] {
        gpu.set_conv_kernels(kernels);
        assert_rows_pass(&run_case(gpu, case, seed).unwrap());
    }
}

/// A stride larger than the kernel (4×4, stride 5): of ∂/∂x's 25 residue
/// classes, those no tap reaches have no k at all, and the tiled ∂/∂x,
/// split in two over its 512-deep sums, must still write their zeros into
/// each split's sums (the split sum reads them all).
#[test]
fn a_split_input_gradient_with_classes_no_tap_reaches_matches_reference() {
    let gpu = common::gpu();
    let op = LayerOp::Conv2d {
        kernel: 4,
        stride: 5,
        padding: 0,
    };
    let spec = NetSpec::single_layer("strided conv", [4, 10, 10], op, 512, true);
    let batch = 2;
    let g = spec.geometry().unwrap()[0];
    let p = ConvParams::new(&g, batch, 0, g.weight_len()).unwrap();
    assert_eq!((p.forward_splits, p.input_grad_splits), (1, 2), "{p:?}");
    let case = Case {
        name: "conv4x4 s5 p0, 4→512 ch, 10×10, 2 images".into(),
        spec,
        batch,
        upstream: Upstream::Random,
        // ∂/∂x sums at most 512 terms.
        tol: LAYER_TOL,
    };
    direct_and_tiled_pass(&gpu, &case, 43);
}

/// The direct forward and weight-gradient kernels read each input row's
/// window of 3·stride + kernel values once: as vec4s from the multiple of 4
/// before the window (every shift 0–3 of the window in its first vec4, and
/// rows of width other than the height), as single values where rows are
/// not whole vec4s; the weight gradient reads ∂L/∂z as vec4s where output
/// rows are whole vec4s, else value by value with the row's last group
/// partly past its end. The direct ∂/∂x reads ⌈kernel / stride⌉ + 3 values
/// of ∂L/∂z once per output row and channel (strides that divide the kernel
/// and strides that do not): with stride 1 on output rows of whole vec4s
/// as vec4s (every shift 0–3 of the window in its first vec4), else value
/// by value. A layer whose window does not fit a kernel runs that pass
/// tiled, also where the direct kernels were asked for.
#[test]
fn direct_kernel_windows_match_reference() {
    let gpu = common::gpu();
    gpu.set_conv_kernels(ConvKernels::Direct);
    let conv = LayerOp::conv;
    // The layer of `spec` against the reference on `batch` images (∂/∂x
    // sums at most 5 · 14² = 980 terms here: LAYER_TOL's ≤ 1k).
    let check = |name: String, spec: NetSpec, batch: usize, seed: u64| {
        let case = Case {
            name,
            spec,
            batch,
            upstream: Upstream::Random,
            tol: LAYER_TOL,
        };
        assert_rows_pass(&run_case(&gpu, &case, seed).unwrap());
    };
    // (kernel, stride, padding, [c, h, w], the forward window's shift and
    // ∂/∂x's, or None: loads of single values)
    let cases = [
        (3, 1, 0, [2, 6, 8], Some(0), None),
        (3, 1, 3, [2, 5, 8], Some(1), Some(1)),
        (5, 1, 2, [3, 8, 4], Some(2), Some(2)),
        (4, 2, 1, [5, 7, 12], Some(3), None),
        (4, 2, 3, [2, 6, 12], Some(1), None),
        // ∂/∂x: residue classes of 1 and 2 taps.
        (5, 3, 2, [2, 7, 22], None, None),
        (3, 2, 1, [2, 9, 7], None, None),
        (2, 3, 0, [1, 8, 10], None, None),
        // Stride past the kernel, rows read as vec4s.
        (2, 3, 0, [1, 8, 12], Some(0), None),
        // Padding past 4.
        (3, 1, 5, [2, 6, 8], Some(3), Some(3)),
        // Rows of whole vec4s, but the shift of 2 would leave the 31-value
        // window no room: read value by value.
        (7, 8, 2, [1, 12, 24], None, None),
        // Input rows read value by value, ∂L/∂z's (8 wide) as vec4s.
        (3, 1, 2, [2, 5, 6], None, Some(0)),
    ];
    let mut dz_vec4_seen = std::collections::BTreeSet::new();
    let mut weight_grad_rows_seen = std::collections::BTreeSet::new();
    for (i, (kernel, stride, padding, chw, shift, dz_shift)) in cases.into_iter().enumerate() {
        let spec = NetSpec::single_layer("windowed conv", chw, conv(kernel, stride, padding), 6, true);
        let g = spec.geometry().unwrap()[0];
        let p = ConvParams::new(&g, 3, 0, g.weight_len()).unwrap();
        let input_grad = p.input_grad_constants().unwrap();
        let dz_window = |name: &str| input_grad.iter().find(|(n, _)| *n == name).unwrap().1;
        let read_as_vec4s = dz_window("DZ_VEC4") == 1.0;
        assert_eq!(
            read_as_vec4s.then(|| dz_window("DZ_SHIFT") as u32),
            dz_shift,
            "∂/∂x, {chw:?}"
        );
        let weight_grad = p.weight_grad_constants().unwrap();
        let value = |name: &str| weight_grad.iter().find(|(n, _)| *n == name).unwrap().1;
        let vec4 = value("X_VEC4") == 1.0;
        assert_eq!(vec4.then(|| value("WINDOW_SHIFT") as u32), shift, "{chw:?}");
        assert_eq!(&weight_grad[..5], &p.window_constants().unwrap()[..]);
        dz_vec4_seen.insert(value("DZ_VEC4") == 1.0);
        assert_eq!(value("ROWS") as u32, p.weight_grad_rows());
        weight_grad_rows_seen.insert(p.weight_grad_rows());
        let net = GpuNet::new(&gpu, &spec, 3).unwrap();
        assert_eq!(net.layer_tiled_passes(0), Some(TiledPasses::all(false)));
        let name = format!("conv{kernel}x{kernel} s{stride} p{padding}, {chw:?}");
        check(name, spec, 3, 60 + i as u64);
    }
    assert_eq!(dz_vec4_seen.len(), 2, "∂L/∂z read both ways");
    // ∂/∂θ summing 1 (5×5, 7×7), 2 (2×2, 4×4) and 3 (3×3) kernel rows an invocation.
    assert_eq!(
        weight_grad_rows_seen,
        [1, 2, 3].into(),
        "∂/∂θ's rows per invocation"
    );
    // Forward and ∂/∂θ: 3·8 + 9 = 33 values, past the window's 32. ∂/∂x:
    // 14 taps + 3 = 17 values, past its 16. ∂/∂θ: rows of 9 and 14 taps,
    // past its 8.
    let wide = [
        (conv(9, 8, 4), [2, 20, 20], [true, false, true]),
        (conv(14, 1, 0), [2, 16, 16], [false, true, true]),
        (conv(9, 1, 0), [2, 12, 12], [false, false, true]),
    ];
    for (i, (op, chw, [forward, input_grad, weight_grad])) in wide.into_iter().enumerate() {
        let spec = NetSpec::single_layer("wide-window conv", chw, op, 5, true);
        let g = spec.geometry().unwrap()[0];
        let p = ConvParams::new(&g, 2, 0, g.weight_len()).unwrap();
        let fits = [
            p.window_constants().is_some(),
            p.input_grad_constants().is_some(),
            p.weight_grad_constants().is_some(),
        ];
        assert_eq!(fits, [!forward, !input_grad, !weight_grad], "{op:?}");
        let net = GpuNet::new(&gpu, &spec, 2).unwrap();
        let want = TiledPasses {
            forward,
            input_grad,
            weight_grad,
        };
        assert_eq!(net.layer_tiled_passes(0), Some(want), "{op:?}");
        check(format!("{op:?} on {chw:?}"), spec, 2, 70 + i as u64);
    }
}

/// The direct convolutions read their weight views from uniform buffers of
/// 64 KiB (CPU adapters' default), a dispatch per buffer where a layer's
/// views need several, and from storage where one group of 4 channels'
/// weights do not fit or the choice is off: each way against the reference.
#[test]
fn weight_views_read_as_uniform_or_storage_match_reference() {
    let gpu = common::gpu();
    gpu.set_conv_kernels(ConvKernels::Direct);
    assert_eq!(gpu.uniform_weight_views(), gpu.is_cpu_adapter(), "the default");
    let align = (gpu.limits.min_uniform_buffer_offset_alignment as usize).div_ceil(16);
    let conv = |kernel| LayerOp::Conv2d {
        kernel,
        stride: 1,
        padding: 1,
    };
    // (uniform views chosen, kernel, [c_in, h, w], c_out, whether each pass
    // reads several uniform buffers, whether each pass pairs groups of
    // channels in an invocation and ends a dispatch on a set of one): 3 → 10 channels, 3×3, fit one buffer
    // per pass; 32 → 62 need two (a group's forward weights 32·9 vec4s,
    // ∂/∂x's 62·9; the last group of output channels has 2); a 6×6 kernel on 128 channels has 4 608 vec4s per
    // group forward, past the 4 096 of a buffer (storage), and 8 · 36 for
    // ∂/∂x (three buffers). Passes on uniform views compute two groups of
    // channels an invocation (UNIFORM_VIEWS_CHANNEL_GROUPS): 3 → 10's
    // forward (3 groups) and 32 → 62's ∂/∂x (7 groups a buffer, then 1, where
    // bindings align at 16 bytes as on lavapipe) end on an invocation with
    // one group.
    let cases = [
        (true, 3, [3, 6, 8], 10, [false, false], [true, false]),
        (true, 3, [32, 5, 8], 62, [true, true], [false, true]),
        (true, 6, [128, 7, 8], 8, [false, true], [false, false]),
        (false, 3, [3, 6, 8], 8, [false, false], [false, false]),
    ];
    for (i, (choice, kernel, chw, c_out, several, ends_on_one)) in cases.into_iter().enumerate() {
        gpu.set_uniform_weight_views(choice);
        let spec = NetSpec::single_layer("weight views", chw, conv(kernel), c_out, true);
        let g = spec.geometry().unwrap()[0];
        let p = ConvParams::new(&g, 2, 0, g.weight_len()).unwrap();
        let want = [true, false].map(|forward| {
            let uniform = p
                .view_chunks(forward, choice, align)
                .filter(|c| c[0].uniform_start.is_some());
            uniform.map_or(0, |c| c.len())
        });
        assert_eq!(want.map(|n| n > 1), several, "{chw:?} → {c_out}");
        let odd_set = [true, false].map(|forward| {
            p.view_chunks(forward, choice, align).is_some_and(|c| {
                ConvParams::channel_groups_for(&c) == 2 && c.iter().any(|c| c.groups % 2 == 1)
            })
        });
        assert_eq!(odd_set, ends_on_one, "{chw:?} → {c_out}");
        if choice && chw[0] != 128 {
            assert!(want.iter().all(|&n| n > 0), "{chw:?} → {c_out}: uniform views");
        }
        if !choice {
            // Storage views and sources, as GPUs bind them: ∂/∂x reads its
            // ∂L/∂z windows through the vec4 binding of a storage source.
            let input_grad = p.input_grad_constants().unwrap();
            assert!(input_grad.contains(&("DZ_VEC4", 1.0)), "{input_grad:?}");
        }
        let net = GpuNet::new(&gpu, &spec, 2).unwrap();
        assert_eq!(net.layer_tiled_passes(0), Some(TiledPasses::all(false)));
        assert_eq!(
            net.layer_uniform_view_chunks(0),
            want,
            "{chw:?} → {c_out}, choice {choice}"
        );
        // ∂/∂x sums at most 62 · 9 = 558 products, within LAYER_TOL's ≤ 1k;
        // the 6×6 kernel's forward 128 · 36 = 4 608: rounding grows like
        // √n·2⁻²⁴ ≈ 4e-6 of the largest terms, inside LAYER_TOL's bounds.
        let tol = if chw[0] == 128 {
            Tolerance {
                reason: "f32 sums of ≤ 4 608 terms (√n·2⁻²⁴ ≈ 4e-6)",
                ..LAYER_TOL
            }
        } else {
            LAYER_TOL
        };
        let case = Case {
            name: format!("weight views {want:?} for {chw:?} → {c_out}"),
            spec,
            batch: 2,
            upstream: Upstream::Random,
            tol,
        };
        assert_rows_pass(&run_case(&gpu, &case, 80 + i as u64).unwrap());
    }
}

/// Where their weight views are uniform (CPU adapters), the direct
/// convolutions read their sources (the input forward, ∂L/∂z for ∂/∂x,
/// both for ∂/∂θ) from uniform bindings of 64 KiB too, a dispatch per
/// binding of the images it holds (∂/∂θ: whole chunks of the batch, each
/// writing its row of sums), each starting at an aligned place before its
/// first image and ending in the buffer; an image past a binding stays on
/// storage. Each way against the reference.
#[test]
fn sources_read_through_uniform_bindings_match_reference() {
    let gpu = common::gpu();
    gpu.set_conv_kernels(ConvKernels::Direct);
    gpu.set_uniform_weight_views(gpu.is_cpu_adapter());
    let conv = |kernel, stride| LayerOp::Conv2d {
        kernel,
        stride,
        padding: 1,
    };
    // (op, [c_in, h, w], c_out, batch, chunks of images the forward, ∂/∂x
    // and ∂/∂θ passes read through uniform bindings on a CPU adapter): 3×20×20
    // images of 1 200 f32 take 13, 13 and 4 a binding, the last binding
    // ending at the buffer's end; ∂L/∂z, 3 200 f32, 5 a binding, which
    // bounds ∂/∂θ's chunks too (of 1 image). 5×9×7 (odd rows, read value
    // by value; 315 f32) with a 4×4 kernel of stride 2: 52 and 8; its ∂L/∂z
    // (4×4×3) fits one; ∂/∂θ, by chunks of 6 images, takes 48 and 12.
    // 1×130×130 has 16 900 f32 an image, past a binding: storage; its
    // ∂L/∂z (2×130×130) too.
    let cases = [
        (conv(3, 1), [3, 20, 20], 8, 30, [3, 6, 6]),
        (conv(4, 2), [5, 9, 7], 4, 60, [2, 1, 2]),
        (conv(3, 1), [1, 130, 130], 2, 1, [0, 0, 0]),
    ];
    for (i, (op, chw, c_out, batch, bindings)) in cases.into_iter().enumerate() {
        let spec = NetSpec::single_layer("uniform sources", chw, op, c_out, true);
        let net = GpuNet::new(&gpu, &spec, batch).unwrap();
        assert_eq!(net.layer_tiled_passes(0), Some(TiledPasses::all(false)));
        // (The counts are the same at any alignment up to WebGPU's 256 bytes.)
        let want = if gpu.is_cpu_adapter() { bindings } else { [0; 3] };
        let got = net.layer_uniform_source_chunks(0);
        assert_eq!(got, want, "{chw:?} → {c_out}, batch {batch}");
        assert_eq!(
            net.layer_uniform_view_chunks(0).map(|n| n > 0),
            [gpu.is_cpu_adapter(); 2],
            "uniform views"
        );
        let case = Case {
            name: format!("uniform sources {got:?} for {chw:?} → {c_out}, batch {batch}"),
            spec,
            batch,
            upstream: Upstream::Random,
            tol: LAYER_TOL,
        };
        assert_rows_pass(&run_case(&gpu, &case, 90 + i as u64).unwrap());
    }
}

/// Max-pooling gives each window's gradient to its first maximum in
/// row-major order, as PyTorch does: on inputs of two values (tied
/// maxima) and odd sizes (a last row and column in no window, whose
/// gradient is zero), the GPU's output and ∂/∂x equal the reference's
/// exactly (routing copies values; nothing is summed), window by window
/// and two windows an invocation (rows of whole vec4s, with and without
/// an odd last row).
#[test]
fn max_pooling_gives_a_tied_windows_gradient_to_its_first_maximum() {
    let gpu = common::gpu();
    for (chw, pairs) in [([3, 5, 7], false), ([3, 5, 12], true), ([2, 6, 12], true)] {
        tied_windows_route_to_their_first_maximum(&gpu, chw, pairs);
    }
}

fn tied_windows_route_to_their_first_maximum(gpu: &ebmscope::gpu::Gpu, chw: [usize; 3], pairs: bool) {
    let batch = 2;
    let spec = NetSpec::single_layer("maxpool", chw, LayerOp::MaxPool2, chw[0], false);
    let g = spec.geometry().unwrap()[0];
    let p = ebmscope::kernels::conv2d::ConvParams::new(&g, batch, 0, 0).unwrap();
    assert_eq!(p.pool_pairs(), pairs, "{chw:?}");
    let net = GpuNet::new(gpu, &spec, batch).unwrap();
    // Zeros and ones: every window here has a tied maximum.
    let x: Vec<f32> = (0..batch * g.in_len())
        .map(|i| ((i * i + 3 * i) / 7 % 2) as f32)
        .collect();
    let dy: Vec<f32> = (0..batch * g.out_len()).map(|i| 1.0 + i as f32).collect();
    net.write_input(gpu, &x).unwrap();
    net.write_upstream(gpu, &dy).unwrap();
    // Stale values where the kernel must write zeros.
    gpu.write_f32(net.input_grad_buffer(), 0, &vec![f32::NAN; x.len()]);
    net.run(gpu, Backward::INPUT);
    let f64s = common::f64s;
    let outputs = [
        (
            "output",
            ebmscope::reference::max_pool2_forward(&g, batch, &f64s(&x)),
            net.read_output(gpu).unwrap(),
        ),
        (
            "∂/∂x",
            ebmscope::reference::max_pool2_backward(&g, batch, &f64s(&x), &f64s(&dy)),
            net.read_input_grad(gpu).unwrap(),
        ),
    ];
    for (what, want, got) in outputs {
        let got = f64s(&got);
        assert_eq!(got.len(), want.len());
        let differ: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
        assert!(
            differ.is_empty(),
            "{chw:?}: {what} differs at {} of {} values, first {:?}",
            differ.len(),
            want.len(),
            &differ[..differ.len().min(8)]
        );
    }
    let (h, w, h_out, w_out) = (g.h_in, g.w_in, g.h_out, g.w_out);
    let windows = batch * g.c_in * h_out * w_out;
    let tied = (0..windows)
        .filter(|&i| {
            let (plane, oy, ox) = (i / (h_out * w_out), i / w_out % h_out, i % w_out);
            let at = |dy: usize, dx: usize| x[plane * h * w + (2 * oy + dy) * w + 2 * ox + dx];
            let window = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
            let max = window.iter().cloned().fold(f32::MIN, f32::max);
            window.iter().filter(|&&v| v == max).count() > 1
        })
        .count();
    assert!(
        2 * tied >= windows,
        "only {tied} of {windows} windows are tied: the test needs ties"
    );
}

/// Hardware GPUs choose tiled or direct kernels by shape by default, CPU
/// adapters the direct ones.
#[test]
fn conv_kernels_by_default() {
    let gpu = common::gpu();
    let want = if gpu.info.device_type == wgpu::DeviceType::Cpu {
        ConvKernels::Direct
    } else {
        ConvKernels::ByShape
    };
    assert_eq!(gpu.conv_kernels(), want);
}

/// By shape, a convolution mixes the families: 3 → 64 channels runs the
/// tiled forward and ∂/∂θ (64 output channels fill a tile) and the direct
/// ∂/∂x (3 input channels), 64 → 3 the other way round; 32 → 32 runs
/// ∂/∂θ alone tiled (32 rows fill half a tile, enough for ∂/∂θ but not
/// for the others).
#[test]
fn kernels_mixed_by_shape_match_reference() {
    let gpu = common::gpu();
    let conv3x3 = CONV3X3_PAD1;
    let rgb_in = TiledPasses {
        forward: true,
        input_grad: false,
        weight_grad: true,
    };
    let rgb_out = TiledPasses {
        forward: false,
        input_grad: true,
        weight_grad: false,
    };
    let half_a_tile = TiledPasses {
        forward: false,
        input_grad: false,
        weight_grad: true,
    };
    gpu.set_conv_kernels(ConvKernels::ByShape);
    for (c_in, c_out, want) in [(3, 64, rgb_in), (64, 3, rgb_out), (32, 32, half_a_tile)] {
        let spec = NetSpec::single_layer("conv", [c_in, 9, 7], conv3x3, c_out, true);
        let net = GpuNet::new(&gpu, &spec, 3).unwrap();
        assert_eq!(net.layer_tiled_passes(0), Some(want));
        let case = Case {
            name: format!("conv3x3 p1, {c_in}→{c_out} ch, 9×7, by shape"),
            spec,
            batch: 3,
            upstream: Upstream::Random,
            tol: LAYER_TOL,
        };
        assert_rows_pass(&run_case(&gpu, &case, 43).unwrap());
    }
}

/// Measured, each pass runs the family that took less time (a tie keeps
/// the direct kernel), by the fastest of its timings, taken in turns.
#[test]
fn measured_kernels_take_the_faster_family_per_pass() {
    let t = TiledPasses::faster([2.0, 1.0, 3.0], [1.0, 2.0, 3.0]);
    let want = TiledPasses {
        forward: true,
        input_grad: false,
        weight_grad: false,
    };
    assert_eq!(t, want);
    assert_eq!(TiledPasses::faster([1.0; 3], [0.5; 3]), TiledPasses::all(true));
    // Seconds by [family][pass]: tiled wins ∂/∂x alone. The first turn is
    // slow (a warm-up), and the tiled forward pass is slow later, so that
    // only the fastest of the turns picks the right family for it.
    let steady = [[1.0, 2.0, 1.0], [1.5, 1.0, 1.2]];
    let mut calls = Vec::new();
    let measured = TiledPasses::measured(|tiled, pass| {
        let turn = calls.len() / 6;
        calls.push((tiled, pass));
        let warm_up = if turn == 0 { 10.0 } else { 0.0 };
        let noise = if tiled && pass == 0 && turn == 2 {
            -0.9
        } else {
            0.0
        };
        Ok(steady[usize::from(tiled)][pass] + warm_up + noise)
    })
    .unwrap();
    let want = TiledPasses {
        forward: true,
        input_grad: true,
        weight_grad: false,
    };
    assert_eq!(measured, want);
    let turns = ebmscope::kernels::conv2d::MEASURED_TRIALS;
    assert_eq!(calls.len(), turns * 6);
    let one_turn: Vec<(bool, usize)> = [false, true]
        .into_iter()
        .flat_map(|t| (0..3).map(move |p| (t, p)))
        .collect();
    assert!(calls.chunks(6).all(|turn| turn == one_turn), "{calls:?}");
}

/// A shape is timed once per device, for each batch: every net built with
/// it afterwards runs the kernels chosen for it; a convolution's passes are
/// chosen (dense layers have kernels of their own).
#[test]
fn measured_kernels_are_chosen_once_per_shape_and_batch() {
    let gpu = common::gpu();
    gpu.set_conv_kernels(ConvKernels::Measured);
    let spec = NetSpec::vanilla(3, 4).unwrap();
    let first = GpuNet::new(&gpu, &spec, 2).unwrap();
    let timed = gpu.measured_shapes();
    assert!(timed >= 4, "{timed} shapes timed");
    let again = GpuNet::sharing(&gpu, &first, 2).unwrap();
    assert_eq!(gpu.measured_shapes(), timed, "a shape was timed twice");
    for i in 0..spec.layers.len() {
        assert_eq!(
            again.layer_tiled_passes(i),
            first.layer_tiled_passes(i),
            "layer {i}"
        );
    }
    assert!(first.layer_tiled_passes(0).is_some());
    GpuNet::new(&gpu, &spec, 4).unwrap();
    assert_eq!(
        gpu.measured_shapes(),
        2 * timed,
        "another batch is another timing"
    );
}

/// Large dispatches are split over two grid dimensions; force the split on
/// small shapes by lowering the per-dimension limit to 2 workgroups.
#[test]
fn two_dimensional_dispatch_matches_reference() {
    let mut gpu = common::gpu();
    gpu.limit_groups_per_dim(2);
    assert_eq!(gpu.dispatch_size(64 * 5), (2, 3));
    for kernels in [ConvKernels::Direct, ConvKernels::Tiled] {
        gpu.set_conv_kernels(kernels);
        // (VanillaNet(3, 4) and NonlocalNet(3, 2): its blocks' max-pooling,
        // attention products, softmax and residual sums too.)
        for case in layer_cases()
            .iter()
            .take(3)
            .chain(net_cases().unwrap().iter().skip(2).step_by(2).take(2))
        {
            assert_rows_pass(&run_case(&gpu, case, 77).unwrap());
        }
    }
    // The samplers' kernels (a workgroup per chain: Langevin steps fused and
    // layered, MALA, attraction–diffusion) over a grid of 2 × n workgroups too.
    assert_rows_pass(&ebmscope::doctor::sampler_rows(&gpu).unwrap());
}

#[test]
fn doctor_runs_every_case() {
    let gpu = common::gpu();
    let rows = run_all(&gpu).unwrap();
    let cases = layer_cases().into_iter().chain(net_cases().unwrap());
    let per_round: usize = cases
        .map(|c| 2 + usize::from(c.spec.param_layout().unwrap().total > 0))
        .sum();
    // A round with the default kernels, one with each family the default
    // does not run in every pass, then the sampler rows: fused and layered,
    // states and Σ r each; MALA's states, F, accepted and Σ r at two
    // temperatures; and attraction–diffusion's states, closest distances
    // and highest energies, fused and layered.
    let other_families = [ConvKernels::Direct, ConvKernels::Tiled]
        .iter()
        .filter(|&&k| k != gpu.conv_kernels())
        .count();
    let expected = per_round * (1 + other_families);
    assert_eq!(rows.len(), expected + 18);
    assert!(rows.len() >= 45);
    let samplers: Vec<&str> = rows[expected..].iter().map(|r| r.case.as_str()).collect();
    assert!(
        samplers[0].ends_with("fused sampler")
            && samplers[2].ends_with("layered kernels")
            && samplers[4].contains("MALA, 8 steps, T = ε²/2")
            && samplers[8].contains("MALA, 8 steps, T = 0.0003")
            && samplers[12].contains("attraction"),
        "{samplers:?}"
    );
    assert_rows_pass(&rows);
}

/// Without atomics or scheduling-dependent sums, a run is bit-for-bit repeatable.
#[test]
fn evaluation_is_deterministic() {
    let gpu = common::gpu();
    let spec = NetSpec::vanilla(3, 4).unwrap();
    let net = GpuNet::new(&gpu, &spec, 3).unwrap();
    net.write_params(&gpu, &init_params(&spec, 5).unwrap()).unwrap();
    let x: Vec<f32> = (0..3 * 3 * 32 * 32)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    net.write_input(&gpu, &x).unwrap();
    net.write_upstream(&gpu, &[0.5, 0.5, -1.0]).unwrap();
    let mut results = Vec::new();
    for _ in 0..2 {
        net.run(
            &gpu,
            Backward {
                input: true,
                params: true,
            },
        );
        results.push((
            net.read_output(&gpu).unwrap(),
            net.read_input_grad(&gpu).unwrap(),
            net.read_param_grads(&gpu).unwrap(),
        ));
    }
    assert_eq!(results[0], results[1]);
    assert!(results[0].2.iter().any(|&g| g != 0.0));
}

#[test]
fn wrong_buffer_lengths_are_refused() {
    let gpu = common::gpu();
    let net = GpuNet::new(&gpu, &NetSpec::toy(), 4).unwrap();
    let err = net.write_input(&gpu, &[0.0; 7]).unwrap_err().to_string();
    assert!(err.contains("expected 8"), "{err}");
    assert!(net.write_params(&gpu, &[0.0; 3]).is_err());
    assert!(net.write_upstream(&gpu, &[0.0; 5]).is_err());
    assert!(GpuNet::new(&gpu, &NetSpec::toy(), 0).is_err());
}

/// Convolutions apply the LeakyReLU backward of the layer before in their
/// ∂/∂x (LeakyReluFusion), so no layer of this chain runs leaky_relu_grad.
/// Direct, with uniform views: layer 1 reads ∂L/∂z through two uniform
/// bindings of 16 images each, a dispatch each (17 images: the second
/// starts at image 16; its variant has no binding 4), layer 2 from storage
/// (66 × 16 × 16 values an image overflow a binding); and with storage
/// views and sources. Tiled: layer 1's ∂/∂x (4 output channels × 1 tap a
/// class, one slice) is not split, layer 2's (66 × 9) is, so the split sum
/// applies LeakyReLU'. Inputs in ±1 give pre-activations of both signs, so
/// a missing or doubled LeakyReLU' would show in ∂/∂x and ∂/∂θ.
#[test]
fn convolutions_apply_the_leaky_relu_backward_before_them() {
    use ebmscope::kernels::conv2d::LeakyReluFusion;
    use ebmscope::model::LayerSpec;
    let gpu = common::gpu();
    let conv = LayerOp::conv;
    let layer = LayerSpec::new;
    let spec = NetSpec {
        name: "leaky chain".into(),
        input: [3, 32, 32],
        layers: vec![
            layer("c0", CONV3X3_PAD1, 3, 5, true),
            layer("c1", conv(2, 2, 0), 5, 4, true),
            layer("c2", CONV3X3_PAD1, 4, 66, true),
            layer("c3", conv(4, 4, 0), 66, 1, false),
        ],
        input_note: String::new(),
    };
    let geometry = spec.geometry().unwrap();
    let fused: Vec<bool> = LeakyReluFusion::of_chain(&geometry)
        .iter()
        .map(|f| f.input)
        .collect();
    assert_eq!(fused, [false, true, true, true]);
    let batch = 17;
    let splits = |i: usize| {
        ConvParams::new(&geometry[i], batch, 0, 0)
            .unwrap()
            .input_grad_splits
    };
    assert_eq!(splits(1), 1);
    assert!(splits(2) > 1);
    let case = Case {
        name: "LeakyReLU chain, 3→5→4→66→1 ch, 32×32, 17 images".into(),
        spec,
        batch,
        upstream: Upstream::Random,
        // ∂/∂x sums at most 66 · 9 terms per layer, through 3 layers.
        tol: NET_TOL,
    };
    for (kernels, uniform) in [
        (ConvKernels::Direct, true),
        (ConvKernels::Direct, false),
        (ConvKernels::Tiled, false),
    ] {
        gpu.set_conv_kernels(kernels);
        gpu.set_uniform_weight_views(uniform);
        let net = GpuNet::new(&gpu, &case.spec, batch).unwrap();
        for i in 1..4 {
            let tiled = net.layer_tiled_passes(i).unwrap();
            assert_eq!(tiled.input_grad, kernels == ConvKernels::Tiled, "layer {i}");
        }
        let sources = [1, 2, 3].map(|i| net.layer_uniform_source_chunks(i)[1]);
        let views = [1, 2, 3].map(|i| net.layer_uniform_view_chunks(i)[1]);
        if uniform {
            assert_eq!(sources[..2], [2, 0]);
            assert!(views[..2].iter().all(|&v| v > 0), "{views:?}");
        } else {
            assert_eq!((sources, views), ([0; 3], [0; 3]));
        }
        assert_rows_pass(&run_case(&gpu, &case, 47).unwrap());
    }
}

/// Inputs of ±300 give attention scores of order 10⁴ (θ, φ ~ 10²), which
/// overflow exp in f32 (above 88) unless the row maximum is subtracted: the
/// block must stay finite and match the reference.
#[test]
fn non_local_softmax_is_stable_for_large_scores() {
    use ebmscope::compare::compare;
    use ebmscope::doctor::LAYER_TOL;
    use ebmscope::model::check_params;
    use ebmscope::reference::ReferenceNet;

    let gpu = common::gpu();
    let spec = NetSpec::single_layer("block", [4, 4, 4], LayerOp::NonLocal, 4, false);
    let batch = 2;
    let net = GpuNet::new(&gpu, &spec, batch).unwrap();
    let params = check_params(&spec, 3).unwrap();
    let x: Vec<f32> = (0..batch * 64)
        .map(|i| 300.0 * ((i * 37 % 64) as f32 / 32.0 - 1.0))
        .collect();
    let upstream = vec![1.0; batch * 64];
    net.write_params(&gpu, &params).unwrap();
    net.write_input(&gpu, &x).unwrap();
    net.write_upstream(&gpu, &upstream).unwrap();
    net.run(
        &gpu,
        Backward {
            input: true,
            params: true,
        },
    );
    let f64s = common::f64s;
    let reference = ReferenceNet::new(&spec).unwrap();
    let (out, grads) = reference.backward(&f64s(&params), batch, &f64s(&x), &f64s(&upstream));
    let got = net.read_output(&gpu).unwrap();
    assert!(got.iter().all(|v| v.is_finite()));
    let cmp = compare(&got, &out, LAYER_TOL);
    assert!(cmp.passed(), "output: {cmp}");
    let cmp = compare(&net.read_param_grads(&gpu).unwrap(), &grads.params, LAYER_TOL);
    assert!(cmp.passed(), "∂/∂params: {cmp}");
}

/// batched_matmul (the non-local block's attention products) against a
/// CPU product on operands laid out every way the kernel reads them:
/// strided (A stored transposed at an offset, B inside a larger per-image
/// block, C transposed with gaps; m and n not multiples of the kernel's
/// 4 × 4 block, so its edges are covered), read value by value; and laid
/// out in whole vec4s, read as vec4s along the block's rows or columns and
/// along the sum, in every pairing. Every depth leaves steps past the last
/// block of 4. Untouched elements of C must stay as they were.
#[test]
fn batched_matmul_matches_cpu_on_every_operand_layout() {
    use ebmscope::compare::compare;
    use ebmscope::doctor::LAYER_TOL;
    use ebmscope::kernels::nonlocal::{MatmulParams, Operand};
    use ebmscope::kernels::{BATCHED_MATMUL, Launch};

    let gpu = common::gpu();
    let op = |offset, image, row, col| Operand {
        offset,
        image,
        row,
        col,
    };
    // (batch, [m, n, depth], A, B, C, how A and B are read, whether C's
    // rows are written as vec4s)
    #[rustfmt::skip]
    let cases = [
        // A[b, r, j] at 2 + 40b + r + 5j; B[b, j, c] at 1 + 50b + 8j + c;
        // C[b, r, c] at 3 + 45b + r + 5c (45 > m·n: gaps between images).
        (3, [5, 7, 6], op(2, 40, 1, 5), op(1, 50, 8, 1), op(3, 45, 1, 5), (0, 0, false)),
        // Rows of A and columns of B adjacent; C in rows of 8 from 1.
        (2, [8, 8, 6], op(4, 48, 1, 8), op(8, 48, 8, 1), op(1, 70, 8, 1), (1, 1, false)),
        // The sum adjacent in both (A in rows of 12, B in columns of 12).
        (2, [5, 7, 10], op(4, 60, 12, 1), op(0, 84, 1, 12), op(0, 35, 7, 1), (2, 2, false)),
        (2, [8, 7, 9], op(0, 72, 1, 8), op(4, 84, 1, 12), op(2, 60, 1, 8), (1, 2, false)),
        // C in rows of 16 holding 12 (gaps between rows and images):
        // written as vec4s, m not a multiple of 4.
        (2, [6, 12, 7], op(8, 48, 8, 1), op(0, 84, 12, 1), op(4, 100, 16, 1), (2, 1, true)),
        (3, [8, 4, 5], op(0, 40, 1, 8), op(0, 20, 4, 1), op(0, 32, 4, 1), (1, 1, true)),
    ];
    let value = |i: usize| ((i * 7919 % 97) as f32 - 48.0) / 24.0;
    let at = |o: &Operand, img: usize, r: usize, c: usize| o.offset + img * o.image + r * o.row + c * o.col;
    for (i, (batch, [m, n, depth], a_op, b_op, c_op, modes)) in cases.into_iter().enumerate() {
        let len = |o: &Operand, rows: usize, cols: usize| at(o, batch - 1, rows - 1, cols - 1) + 1;
        let a: Vec<f32> = (0..len(&a_op, m, depth)).map(value).collect();
        let b: Vec<f32> = (0..len(&b_op, depth, n)).map(|i| value(i + 1000)).collect();
        let c_len = len(&c_op, m, n) + 2;
        let sentinel = -7.0f32;
        let mut want: Vec<f64> = vec![f64::from(sentinel); c_len];
        for img in 0..batch {
            for r in 0..m {
                for c in 0..n {
                    want[at(&c_op, img, r, c)] = (0..depth)
                        .map(|j| f64::from(a[at(&a_op, img, r, j)]) * f64::from(b[at(&b_op, img, j, c)]))
                        .sum();
                }
            }
        }
        let buffer = |label: &str, data: &[f32]| {
            let buf = gpu.storage_buffer(label, data.len());
            gpu.write_f32(&buf, 0, data);
            buf
        };
        let (a_buf, b_buf, c_buf) = (
            buffer("a", &a),
            buffer("b", &b),
            buffer("c", &vec![sentinel; c_len]),
        );
        let params = MatmulParams::new(batch, [m, n, depth], a_op, b_op, c_op);
        assert_eq!(params.invocations(), batch * m.div_ceil(4) * n.div_ceil(4));
        let [(_, a_vec), (_, b_vec)] = params.vec4_constants();
        assert_eq!(
            (a_vec as u32, b_vec as u32, params.writes_rows()),
            modes,
            "case {i}"
        );
        let launch = params
            .launch(&gpu, "matmul test", [&a_buf, &b_buf, &c_buf])
            .unwrap();
        gpu.run("matmul test", |pass| launch.record(&gpu, pass));
        let got = gpu.read_f32(&c_buf, 0, c_len).unwrap();
        let cmp = compare(&got, &want, LAYER_TOL);
        assert!(cmp.passed(), "batched_matmul, case {i}: {cmp}");
        // Reading and writing vec4s changes no sum: the same bits as value
        // by value.
        let values = buffer("c by values", &vec![sentinel; c_len]);
        let scalar = [("A_VEC", 0.0), ("B_VEC", 0.0)];
        let buffers = [&a_buf, &b_buf, &values, &a_buf, &b_buf];
        let n = params.invocations();
        let launch = Launch::specialised(
            &gpu,
            &BATCHED_MATMUL,
            &scalar,
            "matmul test",
            &params,
            &buffers,
            n,
        )
        .unwrap();
        gpu.run("matmul test", |pass| launch.record(&gpu, pass));
        let by_values = gpu.read_f32(&values, 0, c_len).unwrap();
        assert!(
            got.iter()
                .zip(&by_values)
                .all(|(g, v)| g.to_bits() == v.to_bits()),
            "case {i}: vec4 reads or writes changed a result"
        );
    }
}

/// Weights written after a net has run reach every kernel of its next run:
/// the direct convolutions read them through views that are laid out anew
/// before each forward pass (a view laid out once would keep the first
/// weights), also where the forward pass is tiled and only ∂/∂x direct (by
/// shape: 5 input channels, 66 output). Both views have a partial group of 4.
#[test]
fn a_net_that_has_run_follows_new_weights() {
    use ebmscope::compare::compare;
    use ebmscope::model::check_params;
    use ebmscope::reference::ReferenceNet;

    let gpu = common::gpu();
    let op = LayerOp::Conv2d {
        kernel: 4,
        stride: 2,
        padding: 1,
    };
    let spec = NetSpec::single_layer("strided conv", [5, 6, 6], op, 66, true);
    let mixed = TiledPasses {
        forward: true,
        input_grad: false,
        weight_grad: true,
    };
    let g = spec.geometry().unwrap()[0];
    assert_eq!(TiledPasses::by_shape(&g), mixed);
    let batch = 2;
    let f64s = common::f64s;
    let x: Vec<f32> = (0..batch * 5 * 36)
        .map(|i| ((i * 29 % 23) as f32 - 11.0) / 7.0)
        .collect();
    let upstream: Vec<f32> = (0..batch * 66 * 9)
        .map(|i| ((i * 13 % 17) as f32 - 8.0) / 5.0)
        .collect();
    let reference = ReferenceNet::new(&spec).unwrap();
    for kernels in [ConvKernels::Direct, ConvKernels::Tiled, ConvKernels::ByShape] {
        gpu.set_conv_kernels(kernels);
        let net = GpuNet::new(&gpu, &spec, batch).unwrap();
        net.write_input(&gpu, &x).unwrap();
        net.write_upstream(&gpu, &upstream).unwrap();
        let want = Backward {
            input: true,
            params: true,
        };
        let first = check_params(&spec, 5).unwrap();
        net.write_params(&gpu, &first).unwrap();
        net.run(&gpu, want);
        let params = check_params(&spec, 6).unwrap();
        assert_ne!(params, first);
        net.write_params(&gpu, &params).unwrap();
        net.run(&gpu, want);
        let (out, grads) = reference.backward(&f64s(&params), batch, &f64s(&x), &f64s(&upstream));
        for (what, got, want) in [
            ("output", net.read_output(&gpu).unwrap(), &out),
            ("∂/∂input", net.read_input_grad(&gpu).unwrap(), &grads.input),
            ("∂/∂params", net.read_param_grads(&gpu).unwrap(), &grads.params),
        ] {
            let cmp = compare(&got, want, LAYER_TOL);
            assert!(cmp.passed(), "{kernels:?} {what}: {cmp}");
        }
    }
}

/// Non-local blocks whose rows of attention are not whole vec4s, nor one:
/// 3 keys (a 2×6 image pools to 1×3) and 1 key (2×2 to 1×1), where the
/// attention kernels' rows are their last, partial vec4 alone (doctor's
/// blocks have 9 and 6 keys); and the four ways those kernels read their
/// operands: queries (θ, ∂y, y) and keys (φ, g) each as vec4s where their
/// rows are whole vec4s, else value by value (25 queries: a block of 4
/// past the last query is clamped and not stored).
#[test]
fn non_local_blocks_on_ragged_rows_match_reference() {
    use ebmscope::kernels::nonlocal::AttentionParams;
    let gpu = common::gpu();
    let mut reads = std::collections::BTreeSet::new();
    for (input, keys) in [
        ([2, 2, 6], 3),
        ([3, 2, 2], 1),
        ([2, 5, 5], 4),
        ([2, 5, 7], 6),
        ([4, 4, 4], 4),
    ] {
        let spec = NetSpec::single_layer("block", input, LayerOp::NonLocal, input[0], false);
        let g = spec.geometry().unwrap()[0];
        let parts = g.non_local_parts().unwrap();
        assert_eq!(parts.keys, keys);
        let (i, nq, nk) = (parts.inter, parts.queries, parts.keys);
        let forward = AttentionParams::new(&parts, 2, 3 * i * nq, i * nk).vec4_constants();
        let backward = AttentionParams::new(&parts, 2, i * nq, 2 * i * nk).vec4_constants();
        assert_eq!(forward, backward, "{input:?}");
        reads.insert(format!("{forward:?}"));
        let case = Case {
            name: format!("non-local block, {keys} keys"),
            spec,
            batch: 2,
            upstream: Upstream::Random,
            tol: LAYER_TOL,
        };
        direct_and_tiled_pass(&gpu, &case, 47);
    }
    assert_eq!(
        reads.len(),
        4,
        "queries and keys, each as vec4s or not: {reads:?}"
    );
}

/// Memory running out, or anything else wgpu refuses while buffers are
/// made, is an error naming what was being made, not a panic (an uncaptured
/// wgpu error panics). A buffer over the adapter's largest is refused by
/// wgpu's validation, caught by the same scopes as running out of memory;
/// the device goes on after it. (Running out itself cannot be made to
/// happen here: lavapipe allocates from host memory.)
#[test]
fn a_refused_allocation_is_an_error_naming_what_was_made() {
    let gpu = common::gpu();
    let too_big = gpu.device.limits().max_buffer_size + 4;
    let made = gpu.allocating("a test's buffer", "make it smaller", || {
        Ok(gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("too big"),
            size: too_big,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        }))
    });
    let err = made.expect_err("a buffer over the adapter's maximum is refused");
    assert!(
        err.to_string().starts_with("wgpu refused a test's buffer: "),
        "{err}"
    );
    let after = gpu.allocating("a small buffer", "", || Ok(gpu.storage_buffer("after", 4)));
    assert!(after.is_ok(), "the device goes on");
    // An error of the work itself comes first.
    let failed: ebmscope::Result<()> =
        gpu.allocating("nothing", "", || Err(ebmscope::Error::Shape("its own".into())));
    assert_eq!(failed.unwrap_err().to_string(), "its own");
}

/// A bind group in which a writable storage binding overlaps another
/// binding of the same buffer is refused (WebGPU forbids it; wgpu does not
/// check it yet), so a kernel bound so fails its tests here rather than in
/// a browser or a later wgpu. Ranges of one buffer that do not overlap,
/// or read-only bindings of one buffer, are fine.
#[test]
fn a_writable_binding_may_not_overlap_another_of_its_buffer() {
    use ebmscope::kernels::ADD_INTO;
    let gpu = common::gpu();
    let pipeline = gpu.pipeline(&ADD_INTO).unwrap();
    let uniform = gpu.uniform_buffer("add params", &[4u32, 0, 0, 0]);
    // Two ranges of 4 f32, the second at the adapter's storage offset alignment.
    let align = u64::from(gpu.limits.min_storage_buffer_offset_alignment).max(16);
    let buffer = gpu.storage_buffer("two ranges", (align / 4 + 4) as usize);
    let range = |at: u64| {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &buffer,
            offset: at,
            size: std::num::NonZeroU64::new(16),
        })
    };
    // src and dst in ranges apart: allowed.
    let resources = vec![uniform.as_entire_binding(), range(0), range(align)];
    gpu.bind_group_resources("apart", &pipeline, resources);
    let aliased = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gpu.bind_group("aliased", &pipeline, &[&uniform, &buffer, &buffer]);
    }));
    let why = aliased.expect_err("src and dst in one range are refused");
    // Read-only bindings of one buffer (a product's A and B, as values and
    // as vec4s) are fine.
    let matmul = gpu.pipeline(&ebmscope::kernels::BATCHED_MATMUL).unwrap();
    let params = gpu.uniform_buffer("matmul params", &[0u32; 64]);
    let out = gpu.storage_buffer("c", 4);
    let read_four_times = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let buffers = [&params, &buffer, &buffer, &out, &buffer, &buffer];
        gpu.bind_group("read four times", &matmul, &buffers);
    }));
    assert!(read_four_times.is_ok(), "A and B read from one buffer");
    let why = why.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        why.contains("aliased: bindings 1 and 2 overlap") && why.contains("WebGPU forbids"),
        "{why}"
    );
}
