//! Every file in shaders/ parses and validates with naga, is registered in
//! `kernels::ALL`, and its uniform structs match the Rust structs byte for byte.

use std::collections::BTreeSet;
use std::mem::{offset_of, size_of};

use ebmscope::kernels::ALL;
use ebmscope::kernels::conv2d::{ConvParams, ReduceParams, SplitSumParams};
use ebmscope::kernels::nonlocal::{AddParams, AttentionParams, MatmulParams};
use ebmscope::kernels::optim::OptimParams;
use ebmscope::kernels::picture::GridParams;
use ebmscope::kernels::sampling::{
    AdvanceParams, AnalyticParams, AttractionParams, GatherParams, LangevinParams, MLP_CPU_OUTPUTS,
    MalaParams, MlpLangevinParams, RandomParams, RngCounter, RowsParams,
};

fn validate(name: &str, source: &str) -> naga::Module {
    validate_with_info(name, source).0
}

fn validate_with_info(name: &str, source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    (module, info)
}

/// Every registered shader (its composed source) validates and has `main`;
/// every file in shaders/ is part of a registered shader, and what each
/// shader is said to be made of is what it compiles.
#[test]
fn every_shader_file_validates_and_is_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            on_disk.insert(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    // A validation test that finds nothing must fail: count what was found.
    assert_eq!(on_disk.len(), 57, "shader files found: {on_disk:?}");
    let mut used = BTreeSet::new();
    for shader in ALL {
        let module = validate(shader.name, shader.source);
        assert!(
            module.entry_points.iter().any(|e| e.name == "main"),
            "{} has no `main` entry point",
            shader.name
        );
        let composed: String = shader
            .parts
            .iter()
            .map(|part| std::fs::read_to_string(dir.join(format!("{part}.wgsl"))).unwrap())
            .collect();
        assert_eq!(
            composed, shader.source,
            "{} is not the concatenation of {:?}",
            shader.name, shader.parts
        );
        used.extend(shader.parts.iter().map(|p| p.to_string()));
    }
    assert_eq!(
        on_disk, used,
        "files in shaders/ that no registered shader uses, or parts that are missing"
    );
    assert_eq!(ALL.len(), 42);
    // The shared headers are valid modules on their own, gemm_tile with
    // the store_quad that each kernel it heads declares (it hands them its
    // block through it).
    for (header, kernel_side) in [
        ("conv_params", ""),
        ("gemm_tile", "fn store_quad(m: u32, n: u32, v: vec4<f32>) {}"),
        ("philox", ""),
        ("workgroup_sum", ""),
        ("attraction_state", ""),
        ("mlp_params", ""),
    ] {
        let source = std::fs::read_to_string(dir.join(format!("{header}.wgsl"))).unwrap();
        validate(header, &format!("{source}{kernel_side}"));
    }
}

/// (member name, byte offset) of WGSL struct `name`, with its size.
fn wgsl_struct(module: &naga::Module, name: &str) -> Option<(Vec<(String, u32)>, u32)> {
    module.types.iter().find_map(|(_, ty)| match &ty.inner {
        naga::TypeInner::Struct { members, span } if ty.name.as_deref() == Some(name) => Some((
            members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                .collect(),
            *span,
        )),
        _ => None,
    })
}

macro_rules! rust_layout {
    ($t:ty, $($field:ident),*) => {
        (vec![$((stringify!($field).to_string(), offset_of!($t, $field) as u32)),*], size_of::<$t>() as u32)
    };
}

#[test]
fn uniform_structs_match_rust() {
    let structs = [
        (
            "ConvParams",
            rust_layout!(
                ConvParams,
                batch,
                c_in,
                h_in,
                w_in,
                c_out,
                h_out,
                w_out,
                kernel,
                stride,
                padding,
                leaky_relu,
                weight_offset,
                bias_offset,
                batch_chunk,
                n_chunks,
                forward_splits,
                input_grad_splits,
                grad_view_offset,
                view_offset,
                view_group_first,
                view_groups,
                image_first,
                source_shift,
                dz_shift
            ),
        ),
        (
            "SplitSumParams",
            rust_layout!(
                SplitSumParams,
                len,
                splits,
                plane,
                channels,
                with_bias,
                bias_offset,
                leaky_relu,
                input_leaky_relu
            ),
        ),
        (
            "ReduceParams",
            rust_layout!(ReduceParams, rows, row_len, dst_offset, _pad),
        ),
        (
            "RandomParams",
            rust_layout!(
                RandomParams,
                seed,
                purpose,
                row_len,
                rows,
                normal,
                accumulate,
                scale,
                shift
            ),
        ),
        ("RngCounter", rust_layout!(RngCounter, iteration, step)),
        (
            "LangevinParams",
            rust_layout!(
                LangevinParams,
                chains,
                dim,
                a,
                b,
                seed,
                purpose,
                record_path,
                step_offset
            ),
        ),
        (
            "AdvanceParams",
            rust_layout!(AdvanceParams, steps, _pad0, _pad1, _pad2),
        ),
        (
            "MlpLangevinParams",
            rust_layout!(
                MlpLangevinParams,
                chains,
                layers,
                steps,
                dim,
                a,
                b,
                seed,
                purpose,
                record_path,
                attract,
                params_len,
                transposed_at,
                shape
            ),
        ),
        (
            "MalaParams",
            rust_layout!(
                MalaParams,
                chains,
                dim,
                a,
                epsilon,
                inv_temperature,
                init,
                _pad0,
                _pad1
            ),
        ),
        (
            "AttractionParams",
            rust_layout!(AttractionParams, chains, dim, _pad0, _pad1),
        ),
        (
            "AnalyticParams",
            rust_layout!(
                AnalyticParams,
                chains,
                dim,
                sigma,
                mu,
                weight,
                _pad0,
                _pad1,
                _pad2
            ),
        ),
        (
            "MatmulParams",
            rust_layout!(
                MatmulParams,
                batch,
                m,
                n,
                depth,
                a_offset,
                a_image,
                a_row,
                a_col,
                b_offset,
                b_image,
                b_row,
                b_col,
                c_offset,
                c_image,
                c_row,
                c_col
            ),
        ),
        (
            "AttentionParams",
            rust_layout!(
                AttentionParams,
                batch,
                queries,
                keys,
                channels,
                row,
                query_image,
                key_image,
                key_offset
            ),
        ),
        ("AddParams", rust_layout!(AddParams, len, _pad0, _pad1, _pad2)),
        (
            "GatherParams",
            rust_layout!(GatherParams, rows, row_len, _pad0, _pad1),
        ),
        (
            "RowsParams",
            rust_layout!(RowsParams, rows, row_len, scatter, _pad),
        ),
        (
            "GridParams",
            rust_layout!(
                GridParams, images, channels, height, width, cols, grid_w, grid_h, row_words
            ),
        ),
        (
            "OptimParams",
            rust_layout!(
                OptimParams,
                n,
                adam,
                lr,
                beta1,
                beta2,
                eps,
                bias_correction1,
                bias_correction2
            ),
        ),
    ];
    let mut checked = 0;
    for shader in ALL {
        let module = validate(shader.name, shader.source);
        let mut found = 0;
        for (name, rust) in &structs {
            if let Some(wgsl) = wgsl_struct(&module, name) {
                assert_eq!(
                    &wgsl, rust,
                    "{name} in {} differs from the Rust struct",
                    shader.name
                );
                found += 1;
            }
        }
        assert!(
            found > 0,
            "{} declares none of the known parameter structs",
            shader.name
        );
        checked += found;
    }
    assert_eq!(checked, 51, "struct declarations checked across all shaders");
}

/// Value of the module-scope `const NAME: u32` of a shader.
fn wgsl_const_u32(module: &naga::Module, name: &str) -> u32 {
    let (_, c) = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no const {name}"));
    match module.global_expressions[c.init] {
        naga::Expression::Literal(naga::Literal::U32(v)) => v,
        ref other => panic!("const {name} is {other:?}, not a u32 literal"),
    }
}

/// Length of the fixed-size array NAME (workgroup or uniform) of a shader.
fn wgsl_array_len(module: &naga::Module, name: &str) -> u32 {
    let (_, var) = module
        .global_variables
        .iter()
        .find(|(_, v)| v.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no variable {name}"));
    match module.types[var.ty].inner {
        naga::TypeInner::Array {
            size: naga::ArraySize::Constant(n),
            ..
        } => n.get(),
        ref other => panic!("{name} is {other:?}, not a fixed-size array"),
    }
}

/// The sizes the host plans dispatches and admits networks by are the
/// sizes the kernels declare (WGSL cannot import Rust constants).
#[test]
fn rust_and_wgsl_sizes_agree() {
    use ebmscope::kernels::conv2d::{TILE_K, TILE_M, TILE_N, TILE_THREADS};
    use ebmscope::kernels::sampling::{
        MLP_CHAINS_PER_GROUP, MLP_MAX_ACTIVATIONS, MLP_MAX_LAYERS, MLP_MAX_WIDTH,
    };
    use ebmscope::kernels::{CONV2D_FORWARD_TILED, MLP_LANGEVIN};

    let tiled = validate("conv2d_forward_tiled", CONV2D_FORWARD_TILED.source);
    assert_eq!(wgsl_const_u32(&tiled, "TILE_M") as usize, TILE_M);
    assert_eq!(wgsl_const_u32(&tiled, "TILE_N") as usize, TILE_N);
    let tile_k = wgsl_const_u32(&tiled, "TILE_K");
    assert_eq!(tile_k as usize, TILE_K);
    // The tiles are arrays of vec4.
    assert_eq!(4 * wgsl_array_len(&tiled, "a_tile"), TILE_M as u32 * tile_k);
    assert_eq!(4 * wgsl_array_len(&tiled, "b_tile"), TILE_N as u32 * tile_k);
    // Each tiled kernel's workgroup is TILE_THREADS invocations of 8 × 8 outputs.
    assert_eq!(wgsl_const_u32(&tiled, "TILE_THREADS") as usize, TILE_THREADS);
    assert_eq!(TILE_THREADS * 64, TILE_M * TILE_N);
    for shader in [
        &CONV2D_FORWARD_TILED,
        &ebmscope::kernels::CONV2D_INPUT_GRAD_TILED,
        &ebmscope::kernels::CONV2D_WEIGHT_GRAD_TILED,
    ] {
        let module = validate(shader.name, shader.source);
        let size = module.entry_points[0].workgroup_size;
        assert_eq!(size, [TILE_THREADS as u32, 1, 1], "{}", shader.name);
    }

    let direct = validate("conv2d_forward", ebmscope::kernels::CONV2D_FORWARD.source);
    assert_eq!(
        wgsl_const_u32(&direct, "WINDOW_VEC4S"),
        ebmscope::kernels::conv2d::INPUT_WINDOW_VEC4S
    );
    let direct = validate("conv2d_weight_grad", ebmscope::kernels::CONV2D_WEIGHT_GRAD.source);
    // Its accumulators hold the taps of the rows an invocation sums: at
    // least a whole row of the widest kernel it takes.
    let accumulators = wgsl_const_u32(&direct, "ACC_MAX");
    assert_eq!(accumulators, ebmscope::kernels::conv2d::WEIGHT_GRAD_ACCUMULATORS);
    assert!(ebmscope::kernels::conv2d::WEIGHT_GRAD_KERNEL_MAX <= accumulators);
    let direct = validate("conv2d_input_grad", ebmscope::kernels::CONV2D_INPUT_GRAD.source);
    assert_eq!(
        wgsl_const_u32(&direct, "DZ_WINDOW_MAX"),
        ebmscope::kernels::conv2d::INPUT_GRAD_WINDOW_MAX
    );
    // The weight views and the sources (input, ∂L/∂z) as uniform buffers:
    // the array each kernel declares is what the host binds, 64 KiB
    // (WebGPU's guaranteed uniform binding).
    use ebmscope::kernels::conv2d::{UNIFORM_SOURCE_LEN, UNIFORM_VIEWS_LEN};
    use ebmscope::kernels::{
        CONV2D_FORWARD_UNIFORM, CONV2D_FORWARD_UNIFORM_VIEWS, CONV2D_INPUT_GRAD_UNIFORM,
        CONV2D_INPUT_GRAD_UNIFORM_VIEWS, CONV2D_WEIGHT_GRAD_UNIFORM,
    };
    let views = ("UNIFORM_VIEWS_LEN", "views", UNIFORM_VIEWS_LEN);
    let source = ("UNIFORM_SOURCE_LEN", "source", UNIFORM_SOURCE_LEN);
    let dz = ("UNIFORM_DZ_LEN", "dz", UNIFORM_SOURCE_LEN);
    for (shader, arrays) in [
        (CONV2D_FORWARD_UNIFORM_VIEWS, &[views][..]),
        (CONV2D_INPUT_GRAD_UNIFORM_VIEWS, &[views]),
        (CONV2D_FORWARD_UNIFORM, &[views, source]),
        (CONV2D_INPUT_GRAD_UNIFORM, &[views, source]),
        (CONV2D_WEIGHT_GRAD_UNIFORM, &[source, dz]),
    ] {
        let module = validate(shader.name, shader.source);
        for &(constant, array, len) in arrays {
            assert_eq!(wgsl_const_u32(&module, constant) as usize, len, "{}", shader.name);
            assert_eq!(wgsl_array_len(&module, array) as usize, len, "{}", shader.name);
        }
    }
    assert_eq!(16 * UNIFORM_VIEWS_LEN, 65536);
    assert_eq!(16 * UNIFORM_SOURCE_LEN, 65536);
    // So are the fused sampler's two uniform bindings of its weights.
    use ebmscope::kernels::sampling::MLP_UNIFORM_LEN;
    let mlp_uniform = validate(
        "mlp_langevin_uniform_weights",
        ebmscope::kernels::MLP_LANGEVIN_UNIFORM_WEIGHTS.source,
    );
    assert_eq!(
        wgsl_const_u32(&mlp_uniform, "MLP_UNIFORM_LEN") as usize,
        MLP_UNIFORM_LEN
    );
    for name in ["weights", "weights_t"] {
        assert_eq!(wgsl_array_len(&mlp_uniform, name) as usize, MLP_UNIFORM_LEN);
    }
    assert_eq!(16 * MLP_UNIFORM_LEN, 65536);

    let mlp = validate("mlp_langevin", MLP_LANGEVIN.source);
    assert_eq!(wgsl_const_u32(&mlp, "WIDTH_CAP") as usize, MLP_MAX_WIDTH);
    assert_eq!(wgsl_array_len(&mlp, "acts") as usize, MLP_MAX_ACTIVATIONS);
    // dz holds two halves of the widest layer.
    assert_eq!(wgsl_array_len(&mlp, "dz") as usize, 2 * MLP_MAX_WIDTH);
    // The uniform's per-layer shapes, and the chains of a workgroup: the
    // entries of one activation (mat2x4).
    let shapes = mlp
        .types
        .iter()
        .find_map(|(_, ty)| match &ty.inner {
            naga::TypeInner::Struct { members, .. } if ty.name.as_deref() == Some("MlpLangevinParams") => {
                members
                    .iter()
                    .find(|m| m.name.as_deref() == Some("shape"))
                    .map(|m| m.ty)
            }
            _ => None,
        })
        .expect("MlpLangevinParams.shape");
    match mlp.types[shapes].inner {
        naga::TypeInner::Array {
            size: naga::ArraySize::Constant(n),
            ..
        } => assert_eq!(n.get() as usize, MLP_MAX_LAYERS),
        ref other => panic!("MlpLangevinParams.shape is {other:?}"),
    }
    let acts = mlp
        .global_variables
        .iter()
        .find(|(_, v)| v.name.as_deref() == Some("acts"))
        .unwrap()
        .1;
    let naga::TypeInner::Array { base, .. } = mlp.types[acts.ty].inner else {
        panic!("acts is not an array")
    };
    match mlp.types[base].inner {
        naga::TypeInner::Matrix { columns, rows, .. } => {
            assert_eq!(columns as usize * rows as usize, MLP_CHAINS_PER_GROUP)
        }
        ref other => panic!("acts holds {other:?}, not matrices"),
    }

    // langevin_step's workgroup is the largest the adapter check asks for,
    // and workgroup_sum's tree holds all of it.
    let step = validate("langevin_step", ebmscope::kernels::LANGEVIN_STEP.source);
    let lanes = ebmscope::gpu::LARGEST_WORKGROUP;
    assert_eq!(wgsl_const_u32(&step, "LANES"), lanes);
    assert_eq!(step.entry_points[0].workgroup_size, [lanes, 1, 1]);
    assert_eq!(wgsl_array_len(&step, "partial_sums"), lanes);
}

/// The stores in `block` (and the blocks inside it) that write one
/// component of a vector in memory that invocations share (workgroup or
/// storage).
fn shared_component_stores(
    block: &naga::Block,
    function: &naga::Function,
    info: &naga::valid::FunctionInfo,
    module: &naga::Module,
    found: &mut Vec<String>,
) {
    use naga::{AddressSpace, Expression, Statement, TypeInner};
    let in_shared_vector = |e: naga::Handle<Expression>| match info[e].ty.inner_with(&module.types) {
        TypeInner::ValuePointer {
            size: Some(_),
            space: AddressSpace::WorkGroup | AddressSpace::Storage { .. },
            ..
        } => true,
        TypeInner::Pointer {
            base,
            space: AddressSpace::WorkGroup | AddressSpace::Storage { .. },
        } => matches!(module.types[*base].inner, TypeInner::Vector { .. }),
        _ => false,
    };
    let inner =
        |b: &naga::Block, found: &mut Vec<String>| shared_component_stores(b, function, info, module, found);
    for statement in block.iter() {
        match statement {
            Statement::Store { pointer, .. } => {
                if let Expression::Access { base, .. } | Expression::AccessIndex { base, .. } =
                    function.expressions[*pointer]
                    && in_shared_vector(base)
                {
                    found.push(format!("{:?}", function.name));
                }
            }
            Statement::Block(b) => inner(b, found),
            Statement::If { accept, reject, .. } => {
                inner(accept, found);
                inner(reject, found);
            }
            Statement::Loop { body, continuing, .. } => {
                inner(body, found);
                inner(continuing, found);
            }
            Statement::Switch { cases, .. } => {
                for case in cases {
                    inner(&case.body, found);
                }
            }
            _ => {}
        }
    }
}

/// No kernel writes a single component of a vector (or matrix column) in
/// workgroup or storage memory: WGSL lets such a write rewrite the whole
/// vector, so invocations writing different components of one vector race
/// (some compilers do rewrite it). Each shared vector is written whole by
/// one invocation.
#[test]
fn no_component_writes_to_shared_vectors() {
    // The check itself finds such a write (a planted one) and passes a whole-vector one.
    let planted = "var<workgroup> v: array<vec4<f32>, 16>;\n\
        @compute @workgroup_size(64) fn main(@builtin(local_invocation_index) i: u32) {\n\
        v[i / 4u][i % 4u] = 1.0;\n v[i / 4u] = vec4<f32>(2.0);\n}\n";
    assert_eq!(component_stores("planted", planted).len(), 1);
    for shader in ALL {
        let found = component_stores(shader.name, shader.source);
        assert!(
            found.is_empty(),
            "{}: component stores into shared vectors in {found:?}",
            shader.name
        );
    }
}

/// The functions of `source` with a component store into a shared vector,
/// once per store.
fn component_stores(name: &str, source: &str) -> Vec<String> {
    let (module, info) = validate_with_info(name, source);
    let mut found = Vec::new();
    for (handle, function) in module.functions.iter() {
        shared_component_stores(&function.body, function, &info[handle], &module, &mut found);
    }
    for (i, entry) in module.entry_points.iter().enumerate() {
        let f = &entry.function;
        shared_component_stores(&f.body, f, info.get_entry_point(i), &module, &mut found);
    }
    found
}

/// The adapter limits ebmscope asks for are what its kernels use: the most
/// storage buffers one kernel binds, the most workgroup memory one declares.
#[test]
fn adapter_needs_match_the_kernels() {
    use ebmscope::gpu::{STORAGE_BUFFERS_NEEDED, WORKGROUP_STORAGE_NEEDED};
    let mut storage_max = (0, "");
    let mut workgroup_max = (0, "");
    for shader in ALL {
        let module = validate(shader.name, shader.source);
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let in_space = |wanted: fn(naga::AddressSpace) -> bool| {
            module
                .global_variables
                .iter()
                .filter(move |(_, v)| wanted(v.space))
        };
        let storage = in_space(|s| matches!(s, naga::AddressSpace::Storage { .. })).count();
        let workgroup: u32 = in_space(|s| s == naga::AddressSpace::WorkGroup)
            .map(|(_, v)| layouter[v.ty].size)
            .sum();
        storage_max = storage_max.max((storage, shader.name));
        workgroup_max = workgroup_max.max((workgroup, shader.name));
    }
    assert_eq!(storage_max.0 as u32, STORAGE_BUFFERS_NEEDED, "{storage_max:?}");
    assert_eq!(workgroup_max.0, WORKGROUP_STORAGE_NEEDED, "{workgroup_max:?}");
}

/// Every kernel translates to Metal Shading Language and HLSL, the two
/// backends no machine here can run (Vulkan runs in the tests, GL in CI's
/// `doctor --backend gl`), with the options wgpu's Metal and DX12 backends
/// pass by default: bounds checks (Metal `Restrict`, DX12 restricted
/// indexing), zeroed workgroup memory, and for Metal every binding given a
/// buffer slot plus a buffer of array sizes (runtime-sized arrays), as wgpu
/// lays them out. Language levels: MSL 2.0 (macOS 10.13; wgpu goes lower
/// only on older systems), shader models 5.1 (FXC) and 6.0 (DXC).
#[test]
fn every_shader_translates_for_metal_and_dx12() {
    use naga::back::{hlsl, msl};
    use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
    let restrict = BoundsCheckPolicies {
        index: BoundsCheckPolicy::Restrict,
        buffer: BoundsCheckPolicy::Restrict,
        image_load: BoundsCheckPolicy::Restrict,
        binding_array: BoundsCheckPolicy::Unchecked,
    };
    let entry = Some((naga::ShaderStage::Compute, "main".to_string()));
    // The direct convolutions' overrides, as the host sets them for
    // VanillaNet's second layer (4×4, stride 2, rows read as vec4s; ∂/∂x:
    // its first, 3×3 of stride 1, ∂L/∂z read as vec4s), with views on
    // storage (a group of channels an invocation) and uniform
    // (UNIFORM_VIEWS_CHANNEL_GROUPS).
    let vanilla = ebmscope::model::NetSpec::vanilla(3, 8)
        .unwrap()
        .geometry()
        .unwrap();
    let layer = ebmscope::kernels::conv2d::ConvParams::new(&vanilla[1], 4, 0, 0).unwrap();
    let with_groups = |constants: &[(&'static str, f64)], groups: u32| {
        [constants, &[("CHANNEL_GROUPS", f64::from(groups))]].concat()
    };
    let uniform_groups = ebmscope::kernels::conv2d::UNIFORM_VIEWS_CHANNEL_GROUPS;
    let forward = layer.window_constants().unwrap();
    let first = ebmscope::kernels::conv2d::ConvParams::new(&vanilla[0], 4, 0, 0).unwrap();
    let input_grad = first.input_grad_constants().unwrap();
    assert!(input_grad.contains(&("DZ_VEC4", 1.0)), "{input_grad:?}");
    let [forward_storage, forward_uniform] = [1, uniform_groups].map(|g| with_groups(&forward, g));
    let [input_grad_storage, input_grad_uniform] = [1, uniform_groups].map(|g| with_groups(&input_grad, g));
    let weight_grad = layer.weight_grad_constants().unwrap();
    for shader in ALL {
        let (module, info) = validate_with_info(shader.name, shader.source);
        // Overrides are set before translation, as wgpu does.
        let set: &[(&str, f64)] = match shader.name {
            "conv2d_forward" => &forward_storage,
            "conv2d_forward_uniform_views" | "conv2d_forward_uniform" => &forward_uniform,
            "conv2d_input_grad" => &input_grad_storage,
            "conv2d_input_grad_uniform_views" | "conv2d_input_grad_uniform" => &input_grad_uniform,
            "conv2d_weight_grad" | "conv2d_weight_grad_uniform" => &weight_grad,
            // Specialised as VanillaNet's 4 × 4 layers of stride 2 run them.
            "conv2d_forward_tiled" => &[("KERNEL", 4.0)],
            "conv2d_input_grad_tiled" => &[("KERNEL", 4.0), ("STRIDE", 2.0), ("INPUT_LEAKY_RELU", 1.0)],
            // The fused sampler as GPUs and as CPU adapters run it.
            "mlp_langevin" => &[("OUTPUTS", 1.0)],
            "mlp_langevin_uniform_weights" => &[("OUTPUTS", f64::from(MLP_CPU_OUTPUTS))],
            // Both ways of reading each operand as vec4s.
            "batched_matmul" => &[("A_VEC", 1.0), ("B_VEC", 2.0)],
            "batched_matmul_rows" => &[("A_VEC", 2.0), ("B_VEC", 1.0)],
            // Both operands as vec4s, as NonlocalNet's blocks run.
            "attention_softmax" | "attention_softmax_grad" => &[("QUERY_VEC4", 1.0), ("KEY_VEC4", 1.0)],
            // Rows read as vec4s, as NonlocalNet's first Linear runs.
            "dense_forward" | "dense_forward_split" | "dense_input_grad" => &[("ROWS_VEC4", 1.0)],
            _ => &[],
        };
        // The tiled kernels also as a 3×3 layer of stride 2 has them: the
        // forward's 9 taps a channel split across slices (digits' general
        // branch), ∂/∂x's taps per residue class, known at run time only.
        let general: &[(&str, f64)] = match shader.name {
            "conv2d_forward_tiled" => &[("KERNEL", 3.0)],
            "conv2d_input_grad_tiled" => &[("KERNEL", 3.0), ("STRIDE", 2.0)],
            _ => &[],
        };
        for set in std::iter::once(set).chain((!general.is_empty()).then_some(general)) {
            let constants: naga::back::PipelineConstants = set
                .iter()
                .map(|&(name, value)| (name.to_string(), value))
                .collect();
            let (module, info) = naga::back::pipeline_constants::process_overrides(
                &module,
                &info,
                Some((naga::ShaderStage::Compute, "main")),
                &constants,
            )
            .unwrap_or_else(|e| panic!("{}: overrides: {e}", shader.name));
            let (module, info) = (module.as_ref(), info.as_ref());
            let mut resources = msl::EntryPointResources::default();
            for (_, var) in module.global_variables.iter() {
                if let Some(binding) = var.binding {
                    let slot = resources.resources.len() as msl::Slot;
                    let target = msl::BindTarget {
                        buffer: Some(slot),
                        mutable: matches!(var.space, naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE)),
                        ..Default::default()
                    };
                    resources.resources.insert(binding, target);
                }
            }
            resources.sizes_buffer = Some(resources.resources.len() as msl::Slot);
            let options = msl::Options {
                lang_version: (2, 0),
                bounds_check_policies: restrict,
                fake_missing_bindings: false,
                per_entry_point_map: [("main".to_string(), resources)].into(),
                ..Default::default()
            };
            let pipeline = msl::PipelineOptions {
                entry_point: entry.clone(),
                ..Default::default()
            };
            let (source, _) = msl::write_string(module, info, &options, &pipeline)
                .unwrap_or_else(|e| panic!("{} to MSL: {e}", shader.name));
            assert!(
                source.contains("kernel void main_"),
                "{}: no MSL kernel in\n{source}",
                shader.name
            );
            for shader_model in [hlsl::ShaderModel::V5_1, hlsl::ShaderModel::V6_0] {
                let options = hlsl::Options {
                    shader_model,
                    restrict_indexing: true,
                    zero_initialize_workgroup_memory: true,
                    ..Default::default()
                };
                let pipeline = hlsl::PipelineOptions {
                    entry_point: entry.clone(),
                };
                let mut source = String::new();
                hlsl::Writer::new(&mut source, &options, &pipeline)
                    .write(module, info, None)
                    .unwrap_or_else(|e| panic!("{} to HLSL {shader_model:?}: {e}", shader.name));
                assert!(
                    source.contains("[numthreads("),
                    "{}: no HLSL compute entry in\n{source}",
                    shader.name
                );
            }
        }
    }
}

/// The attraction state's header is laid out in the shader header and
/// sized on the host: the two say the same.
#[test]
fn attraction_header_sizes_agree() {
    let wgsl = include_str!("../shaders/attraction_state.wgsl");
    let line = format!(
        "const ATTRACTION_HEADER: u32 = {}u;",
        ebmscope::sampler::ATTRACTION_HEADER
    );
    assert!(
        wgsl.contains(&line),
        "shaders/attraction_state.wgsl lacks `{line}`"
    );
}

/// The kernels are compiled without wgpu's loop bounding
/// (`Gpu::specialised_pipeline`), which is sound only if no loop can run
/// without end: every loop in shaders/ is a `for` over a variable it
/// declares, that its condition tests and its update steps by a constant
/// (`++`, `--`, `+=` a literal or a constant, `>>= 1u`); there is no `loop`
/// and no `while`.
#[test]
fn every_loop_steps_by_a_constant() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let has_word = |text: &str, word: &str| {
        text.match_indices(word).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            !before.is_some_and(is_word) && !after.is_some_and(is_word)
        })
    };
    let mut loops = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The code without its comments.
        let code: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| l.split("//").next().unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!has_word(&code, "loop"), "{name}: a `loop`");
        assert!(!has_word(&code, "while"), "{name}: a `while`");
        for (at, _) in code.match_indices("for (") {
            let header = &code[at + 5..];
            let header = &header[..header.find(") {").expect("a for header")];
            let parts: Vec<&str> = header.split(';').map(str::trim).collect();
            assert_eq!(parts.len(), 3, "{name}: for ({header})");
            let var = parts[0]
                .strip_prefix("var ")
                .and_then(|d| d.split([' ', ':', '=']).next())
                .unwrap_or_else(|| panic!("{name}: for ({header}) declares no variable"));
            assert!(
                has_word(parts[1], var),
                "{name}: for ({header}): the condition tests another variable"
            );
            let step = parts[2]
                .strip_prefix(var)
                .unwrap_or_else(|| panic!("{name}: for ({header}) steps another variable"))
                .trim();
            let constant = |s: &str| {
                let s = s.strip_suffix('u').unwrap_or(s);
                (s.parse::<u32>().is_ok_and(|n| n > 0))
                    || s.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            };
            let steps_by_a_constant = step == "++"
                || step == "--"
                || step == ">>= 1u"
                || step.strip_prefix("+= ").is_some_and(constant);
            assert!(steps_by_a_constant, "{name}: for ({header})");
            loops += 1;
        }
    }
    // (A search that finds nothing must fail.)
    assert!(loops >= 100, "{loops} loops found");
}
