# The PyTorch side of bench/gpu-detect.ts, run on the GPU machine (torch + torchvision there):
#   export OUT.onnx        SSD300-VGG16 (random weights), dynamic batch, box decode in the graph:
#                          outputs boxes [B,8732,4] (normalised x1,y1,x2,y2) and scores [B,8732,91]
#   eager B SECONDS        the same network in PyTorch eager fp16 on float input already on the GPU
#   naive CLIP SECONDS     the seeds' baseline: OpenCV decode, resize, torchvision SSD300 with its
#                          own post-processing, one frame at a time, fp32
# Each prints one JSON line.
import json
import math
import sys
import time

import torch
import torchvision
from torchvision.models.detection.image_list import ImageList


def ssd():
    torch.manual_seed(0)
    return torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None).eval()


class Net(torch.nn.Module):
    """Backbone + head + anchor decode (torchvision's BoxCoder weights 10,10,5,5) + softmax."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        x = torch.zeros(1, 3, 300, 300)
        feats = list(m.backbone(x).values())
        self.register_buffer('a', m.anchor_generator(ImageList(x, [(300, 300)]), feats)[0])

    def forward(self, x):
        h = self.m.head(list(self.m.backbone(x).values()))
        r, logits = h['bbox_regression'], h['cls_logits']
        a = self.a
        wa, ha = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
        cxa, cya = a[:, 0] + 0.5 * wa, a[:, 1] + 0.5 * ha
        clip = math.log(1000.0 / 16)
        cx = r[..., 0] / 10 * wa + cxa
        cy = r[..., 1] / 10 * ha + cya
        w = torch.exp(torch.clamp(r[..., 2] / 5, max=clip)) * wa
        hh = torch.exp(torch.clamp(r[..., 3] / 5, max=clip)) * ha
        boxes = torch.stack([cx - w / 2, cy - hh / 2, cx + w / 2, cy + hh / 2], -1) / 300
        return boxes, torch.softmax(logits, -1)


def export(out):
    net = Net(ssd()).eval()
    kw = dict(input_names=['input'], output_names=['boxes', 'scores'], opset_version=17,
              dynamic_axes={'input': {0: 'batch'}, 'boxes': {0: 'batch'}, 'scores': {0: 'batch'}})
    with torch.no_grad():
        try:
            torch.onnx.export(net, torch.zeros(1, 3, 300, 300), out, dynamo=False, **kw)
        except TypeError:
            torch.onnx.export(net, torch.zeros(1, 3, 300, 300), out, **kw)
    print(json.dumps({'export': out, 'torch': torch.__version__, 'torchvision': torchvision.__version__}))


def eager(batch, seconds):
    net = Net(ssd()).eval().cuda().half()
    x = torch.rand(batch, 3, 300, 300, device='cuda').half()
    with torch.no_grad():
        for _ in range(5):
            net(x)
        torch.cuda.synchronize()
        n, t0 = 0, time.perf_counter()
        # Synchronise each batch: otherwise the host queues kernels far faster than the GPU runs
        # them and the final synchronize waits out minutes of backlog (it did, twice).
        while time.perf_counter() - t0 < seconds:
            net(x)
            torch.cuda.synchronize()
            n += batch
    print(json.dumps({'eager_fp16_img_s': n / (time.perf_counter() - t0), 'batch': batch}))


def naive(clip, seconds):
    import cv2
    print(f'naive: OpenCV {cv2.__version__}, torch {torch.__version__}', file=sys.stderr, flush=True)
    m = ssd().cuda()
    cap = cv2.VideoCapture(clip)
    n, t0, misses, total = 0, None, 0, 0
    with torch.no_grad():
        while True:
            ok, img = cap.read()
            if not ok:
                # End of the clip: start again; a clip OpenCV cannot read at all must not spin forever.
                misses += 1
                if misses > 3:
                    raise SystemExit(f'OpenCV cannot read {clip}')
                cap.release()
                cap = cv2.VideoCapture(clip)
                continue
            misses = 0
            rgb = cv2.cvtColor(cv2.resize(img, (300, 300)), cv2.COLOR_BGR2RGB)
            t = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255).cuda()
            m([t])
            n += 1
            total += 1
            if total % 50 == 0:
                print(f'naive: {total} frames', file=sys.stderr, flush=True)
            if n == 10 and t0 is None:
                torch.cuda.synchronize()
                n, t0 = 0, time.perf_counter()
            if t0 is not None and time.perf_counter() - t0 >= seconds:
                break
    print(json.dumps({'naive_fps': n / (time.perf_counter() - t0)}))


if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'export':
        export(sys.argv[2])
    elif mode == 'eager':
        eager(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == 'naive':
        naive(sys.argv[2], float(sys.argv[3]))
