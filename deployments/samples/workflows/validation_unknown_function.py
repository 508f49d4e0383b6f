digest = "sha256:" + "0" * 64
promote_image(digest)
