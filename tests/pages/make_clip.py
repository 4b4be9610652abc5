"""Makes tests/pages/clip.webm: a 2-second 64x48 VP8 clip (10 fps, a moving bar),
a few KB, that headless Chromium plays muted with autoplay. Committed; run again
only to change it:  pip install av && python3 tests/pages/make_clip.py
"""
import os

import av

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clip.webm")
W, H, FPS, SECONDS = 64, 48, 10, 2
with av.open(out, "w", format="webm") as c:
    s = c.add_stream("libvpx", rate=FPS)
    s.width, s.height, s.pix_fmt = W, H, "yuv420p"
    s.bit_rate = 40_000
    for i in range(FPS * SECONDS):
        rgb = bytearray(W * H * 3)
        x0 = i * W // (FPS * SECONDS)
        for y in range(H):
            for x in range(W):
                p = (y * W + x) * 3
                on = x0 <= x < x0 + 8
                rgb[p:p + 3] = bytes((240, 80, 40)) if on else bytes((30, 60 + y * 3, 120))
        f = av.VideoFrame(W, H, "rgb24")
        f.planes[0].update(bytes(rgb))
        for pkt in s.encode(f):
            c.mux(pkt)
    for pkt in s.encode():
        c.mux(pkt)
print(out, os.path.getsize(out), "bytes")
