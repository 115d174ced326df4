/*
 * A tiny float TFLite backbone for fast tests of what sits on top of
 * features (the audit): 32x32x3 input, conv 3x3 stride 2 (8 channels,
 * ReLU), average pool 4x4 stride 4: 4x4x8 = 128 features that keep where
 * colours are in the photo, so different photos of one colour differ.
 */
#ifndef DF_TEST_TINY_BACKBONE_H
#define DF_TEST_TINY_BACKBONE_H

/* Writes DIR/tiny_spatial.tflite; returns its malloc'ed path (aborts the test on failure). */
char *df_test_write_tiny_spatial_backbone(const char *dir);
/* The same convolution, then a global average pool (16x16 -> 1x1x8): the
 * MobileNets' shape, whose map pooling by regions cuts at. */
char *df_test_write_tiny_pooled_backbone(const char *dir);

#endif
