//! Philox-4x32-10 (Salmon et al., SC'11), the counter-based generator of
//! shaders/philox.wgsl, and its mapping to uniforms and normals.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// (k + 0.5)·2⁻²³ for the top 23 bits k of `w`: in (0, 1), exact in f32.
pub fn unit_open(w: u32) -> f64 {
    (f64::from(w >> 9) + 0.5) / 8_388_608.0
}

/// The draw random_fill makes for element `e` of row `row` at (step, iteration).
pub fn draw(seed: u32, purpose: u32, e: u32, row: u32, step: u32, iteration: u32, normal: bool) -> f64 {
    let bits = philox4x32_10([e, row, step, iteration], [seed, purpose]);
    let u = unit_open(bits[0]);
    if normal {
        // As the shader: cos(2πv) = −cos(2π(v − ½)), an argument in [−π, π].
        -(-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * (unit_open(bits[1]) - 0.5)).cos()
    } else {
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors of the Random123 distribution (kat_vectors).
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }
}
