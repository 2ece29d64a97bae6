//! An upload's type, from its first bytes only: the `Content-Type` a client sends is a claim,
//! the magic bytes are what a browser will decode. Three formats are taken, so a dozen lines
//! do what a general-purpose sniffing crate would.

/// The image formats accepted for upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    WebP,
}

impl ImageType {
    /// What the image's bytes are, if they are one of the accepted formats.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        // SOI followed by the first marker's 0xFF.
        const JPEG: &[u8] = b"\xff\xd8\xff";
        match bytes {
            _ if bytes.starts_with(PNG) => Some(Self::Png),
            _ if bytes.starts_with(JPEG) => Some(Self::Jpeg),
            // A RIFF container (4 bytes of size between) whose form type is WEBP.
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..,
            ] => Some(Self::WebP),
            _ => None,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_known_by_its_magic_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let jpeg = b"\xff\xd8\xff\xe0\0\x10JFIF\0";
        let webp = b"RIFF\x24\0\0\0WEBPVP8 ";

        assert_eq!(ImageType::sniff(png), Some(ImageType::Png));
        assert_eq!(ImageType::sniff(jpeg), Some(ImageType::Jpeg));
        assert_eq!(ImageType::sniff(webp), Some(ImageType::WebP));
        assert_eq!(ImageType::WebP.media_type(), "image/webp");
    }

    #[test]
    fn anything_else_is_not_an_image() {
        for bytes in [
            &b""[..],
            b"\x89PN",
            b"hello, I am a text file pretending to be a PNG",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            b"GIF89a\x01\0\x01\0",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"RIFF\x24\0\0",
        ] {
            assert_eq!(ImageType::sniff(bytes), None, "{bytes:?}");
        }
    }
}
