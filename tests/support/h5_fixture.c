/* Keras-layout HDF5 writer for tests (see h5_fixture.h). */
#include "support/h5_fixture.h"

#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

static int write_names(hid_t obj, const char *attr, const char *const *names, int n, const h5fx_options *o) {
    int rc = -1;
    hid_t type = -1, space = -1, a = -1;
    hsize_t dims[1] = {(hsize_t)n};
    space = H5Screate_simple(1, dims, NULL);
    if (n == 0 && o->empty_as_float) {
        a = H5Acreate2(obj, attr, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
        rc = a >= 0 ? 0 : -1;
        goto done;
    }
    type = H5Tcopy(H5T_C_S1);
    if (o->vlen_strings) {
        H5Tset_size(type, H5T_VARIABLE);
        H5Tset_cset(type, H5T_CSET_UTF8);
        a = H5Acreate2(obj, attr, type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0 && (n == 0 || H5Awrite(a, type, names) >= 0)) rc = 0;
    } else {
        size_t len = 1;
        for (int i = 0; i < n; i++)
            if (strlen(names[i]) > len) len = strlen(names[i]);
        H5Tset_size(type, len);
        H5Tset_strpad(type, H5T_STR_NULLPAD);
        char *buf = calloc((size_t)(n ? n : 1), len);
        for (int i = 0; buf && i < n; i++) memcpy(buf + (size_t)i * len, names[i], strlen(names[i]));
        a = H5Acreate2(obj, attr, type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (buf && a >= 0 && (n == 0 || H5Awrite(a, type, buf) >= 0)) rc = 0;
        free(buf);
    }
done:
    if (a >= 0) H5Aclose(a);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    return rc;
}

int h5fx_write_keras(const char *path, const h5fx_layer *layers, int n, const h5fx_options *opt) {
    h5fx_options def = {0, 0, NULL, 0};
    const h5fx_options *o = opt ? opt : &def;
    int rc = -1;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    const char **names = calloc((size_t)n, sizeof *names);
    if (f < 0 || lcpl < 0 || !names) goto done;
    H5Pset_create_intermediate_group(lcpl, 1);
    for (int i = 0; i < n; i++) names[i] = layers[i].name;
    if (!o->no_layer_names && write_names(f, "layer_names", names, n, o)) goto done;
    const char *backend[1] = {"tensorflow"};
    if (write_names(f, "backend", backend, 1, o)) goto done;
    for (int i = 0; i < n; i++) {
        const h5fx_layer *L = &layers[i];
        if (o->no_group_for && !strcmp(o->no_group_for, L->name)) continue;
        hid_t g = H5Gcreate2(f, L->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) goto done;
        const char *wn[2];
        for (int j = 0; j < 2; j++) wn[j] = j < L->n ? (L->listed[j] ? L->listed[j] : L->w[j].name) : NULL;
        int bad = write_names(g, "weight_names", wn, L->n, o);
        for (int j = 0; !bad && j < L->n; j++) {
            hsize_t dims[4];
            for (int k = 0; k < L->w[j].rank; k++) dims[k] = L->w[j].dims[k];
            hid_t sp = H5Screate_simple(L->w[j].rank, dims, NULL);
            hid_t ds = H5Dcreate2(g, L->w[j].name, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
            bad = ds < 0 || (L->w[j].data && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, L->w[j].data) < 0);
            if (ds >= 0) H5Dclose(ds);
            H5Sclose(sp);
        }
        H5Gclose(g);
        if (bad) goto done;
    }
    rc = 0;
done:
    free(names);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (f >= 0 && H5Fclose(f) < 0) rc = -1;
    return rc;
}
