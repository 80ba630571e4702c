//! The PNG pictures ebmscope writes: whole or not at all (through
//! [`write_atomically`]), and marked as its own by a tEXt chunk
//! (`Software: ebmscope`), so that a picture it would write over can be told
//! from someone else's file of that name.

use std::path::Path;

use super::write_atomically;
use crate::{Error, Result};

/// The tEXt chunk that marks a PNG as one ebmscope wrote.
pub const PNG_MARK: (&str, &str) = ("Software", "ebmscope");

/// The pixels' layout of [`write_png`]: 3 or 4 bytes a pixel, row by row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pixels {
    Rgb,
    Rgba,
}

/// Write a `[width, height]` picture of `pixels` as a marked PNG at `path`,
/// atomically.
pub fn write_png(path: &Path, [width, height]: [u32; 2], layout: Pixels, pixels: &[u8]) -> Result<()> {
    let (color, bytes_per_pixel) = match layout {
        Pixels::Rgb => (png::ColorType::Rgb, 3),
        Pixels::Rgba => (png::ColorType::Rgba, 4),
    };
    if pixels.len() != width as usize * height as usize * bytes_per_pixel {
        return Err(Error::file(
            path,
            format!(
                "a {width}×{height} picture given {} bytes (ebmscope's error)",
                pixels.len()
            ),
        ));
    }
    let mut bytes = Vec::new();
    let encode = |bytes: &mut Vec<u8>| -> std::result::Result<(), png::EncodingError> {
        let mut encoder = png::Encoder::new(bytes, width, height);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.add_text_chunk(PNG_MARK.0.to_string(), PNG_MARK.1.to_string())?;
        let mut writer = encoder.write_header()?;
        writer.write_image_data(pixels)?;
        writer.finish()
    };
    encode(&mut bytes).map_err(|e| Error::file(path, format!("could not encode the picture ({e})")))?;
    write_atomically(path, &bytes)
}

/// Whether the file at `path` is a PNG that ebmscope wrote ([`PNG_MARK`]).
pub fn png_written_by_ebmscope(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.read_info().is_ok_and(|reader| {
        reader
            .info()
            .uncompressed_latin1_text
            .iter()
            .any(|t| (t.keyword.as_str(), t.text.as_str()) == PNG_MARK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_marked_as_ours_and_others_are_not() {
        let dir = std::env::temp_dir().join(format!("ebmscope-png-mark-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ours = dir.join("ours.png");
        let pixels: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8 * 10).collect();
        write_png(&ours, [2, 3], Pixels::Rgba, &pixels).unwrap();
        assert!(png_written_by_ebmscope(&ours));
        // The picture reads back as written.
        let back = image::open(&ours).unwrap().to_rgba8();
        assert_eq!((back.dimensions(), back.into_raw()), ((2, 3), pixels.clone()));
        // Another program's PNG (the image crate's, unmarked), a text file
        // and no file at all are not ours.
        let theirs = dir.join("theirs.png");
        image::RgbImage::new(2, 2).save(&theirs).unwrap();
        let text = dir.join("notes.png");
        std::fs::write(&text, "not a picture").unwrap();
        for path in [&theirs, &text, &dir.join("none.png")] {
            assert!(!png_written_by_ebmscope(path), "{}", path.display());
        }
        // A wrong pixel count is refused, and nothing is written.
        let short = dir.join("short.png");
        assert!(write_png(&short, [2, 3], Pixels::Rgb, &pixels).is_err());
        assert!(!short.exists());
        let _ = crate::io::remove_dir_all(&dir);
    }
}
