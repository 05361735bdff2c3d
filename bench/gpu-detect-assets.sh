#!/usr/bin/env bash
# Lay out what bench/gpu-detect.sh reads from ../shared (the GPU machine has no copy of it).
set -euo pipefail
A=.device/assets
mkdir -p $A/models/yolox $A/media
cp "${SLUICE_TEST_ASSETS:-../shared}/models/yolox/yolox_nano.onnx" $A/models/yolox/
cp "${SLUICE_TEST_ASSETS:-../shared}/media/one-by-one-person-detection.mp4" $A/media/
