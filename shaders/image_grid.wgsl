// image_grid: images [n, C, H, W] with values in [−1, 1] (C = 1 grey or
// 3 RGB) laid out as one RGBA8 picture for the window, without a trip
// through the CPU: a grid of `cols` columns with 1-pixel white borders;
// the cells past the last image are transparent (the window's background
// shows: a white one would read as an all-white image).
// Picture rows are `row_words` u32 long (padded to 256 bytes, as a
// buffer-to-texture copy needs). The level of a value v is
// floor((clamp(v, −1, 1) + 1)·127.5 + 0.5), as the CPU twin computes it.
//
// Bindings (group 0):
//   0 uniform GridParams p
//   1 storage read  src  [n, C, H, W] f32
//   2 storage write dst  [grid_h, row_words] u32, bytes R, G, B, A
// One invocation per picture pixel.

struct GridParams {
    images: u32,
    channels: u32,
    height: u32,
    width: u32,
    cols: u32,
    grid_w: u32,
    grid_h: u32,
    row_words: u32,
}

@group(0) @binding(0) var<uniform> p: GridParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

fn level(v: f32) -> u32 {
    return u32(floor((clamp(v, -1.0, 1.0) + 1.0) * 127.5 + 0.5));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.grid_w * p.grid_h) {
        return;
    }
    let x = idx % p.grid_w;
    let y = idx / p.grid_w;
    var rgba = 0xffffffffu;
    if (x > 0u && y > 0u) {
        let ix = (x - 1u) % (p.width + 1u);
        let iy = (y - 1u) % (p.height + 1u);
        let k = ((y - 1u) / (p.height + 1u)) * p.cols + (x - 1u) / (p.width + 1u);
        if (ix < p.width && iy < p.height && k >= p.images) {
            rgba = 0u;
        } else if (ix < p.width && iy < p.height) {
            let plane = p.height * p.width;
            let at = k * p.channels * plane + iy * p.width + ix;
            let r = level(src[at]);
            var g = r;
            var b = r;
            if (p.channels == 3u) {
                g = level(src[at + plane]);
                b = level(src[at + 2u * plane]);
            }
            rgba = r | (g << 8u) | (b << 16u) | (255u << 24u);
        }
    }
    dst[y * p.row_words + x] = rgba;
}
