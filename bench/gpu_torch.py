# PyTorch eager reference on the GPU machine, and the ResNet-50 export for onnxruntime.
# python3 bench/gpu_torch.py OUT_DIR
import json, sys, time, torch, torchvision
out = sys.argv[1]
m = torchvision.models.resnet50(weights=None).eval().cuda()
x1 = torch.randn(1, 3, 224, 224, device='cuda')
torch.onnx.export(m, x1, f'{out}/resnet50.onnx', input_names=['input'], output_names=['logits'],
                  dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=17, dynamo=False)
for dtype in (torch.float32, torch.float16):
    mm = m.to(dtype)
    for b in (1, 8, 32, 128):
        x = torch.randn(b, 3, 224, 224, device='cuda', dtype=dtype)
        with torch.inference_mode():
            for _ in range(5): mm(x)
            torch.cuda.synchronize(); t0 = time.perf_counter(); n = 0
            while time.perf_counter() - t0 < 3: mm(x); n += 1
            torch.cuda.synchronize(); dt = time.perf_counter() - t0
        print(json.dumps({'bench': 'torch-eager-resnet50', 'dtype': str(dtype).split('.')[-1], 'batch': b, 'imgPerSec': n * b / dt}))
