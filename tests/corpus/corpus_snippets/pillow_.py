import os

import PIL
from PIL import Image, ImageDraw, ImageFilter, ImageFont


def run(tmp):
    img = Image.new("RGB", (64, 48), "white")
    draw = ImageDraw.Draw(img)
    draw.ellipse((8, 8, 40, 40), fill=(200, 30, 30))
    draw.text((2, 2), "Hi", fill="black", font=ImageFont.load_default())
    img = img.filter(ImageFilter.GaussianBlur(1))
    sizes = {}
    for fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        path = os.path.join(tmp, "img." + fmt.lower())
        img.save(path, fmt)
        with Image.open(path) as back:
            back.load()
            assert back.size == (64, 48)
        sizes[fmt] = os.path.getsize(path)
    return f"pillow {PIL.__version__}: {sizes}"
