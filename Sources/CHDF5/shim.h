// shim.h: the few pieces of HDF5 that Swift 6 cannot import as they are.
//
// HDF5 spells its handles as macros over C globals (`H5T_NATIVE_FLOAT` is `(H5open(), H5T_NATIVE_FLOAT_g)`),
// which Swift cannot import and, under strict concurrency, could not touch anyway; and several calls
// changed name or signature between 1.10 (Debian 12) and 1.12+ (`H5Ovisit2` vs `H5Ovisit3`,
// `H5Dvlen_reclaim` vs `H5Treclaim`). Each is wrapped here in one commented `static inline` function,
// so the Swift side sees one stable, version-independent API prefixed `gc_`.
#ifndef GRU_CONVERT_CHDF5_SHIM_H
#define GRU_CONVERT_CHDF5_SHIM_H

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// MARK: - Constants that are macros

/// `H5P_DEFAULT`: the default property list (imports as Int32, not hid_t, so it is re-typed here).
static inline hid_t gc_default_plist(void) { return H5P_DEFAULT; }
/// `H5S_ALL`: the whole dataspace, in reads.
static inline hid_t gc_all_space(void) { return H5S_ALL; }
/// `H5F_ACC_RDONLY`: open a file read-only.
static inline unsigned gc_file_access_read_only(void) { return H5F_ACC_RDONLY; }
/// `H5F_ACC_EXCL`: create a file, failing if it exists.
static inline unsigned gc_file_access_exclusive(void) { return H5F_ACC_EXCL; }
/// `H5T_NATIVE_FLOAT`: the memory type of a Swift `Float`.
static inline hid_t gc_native_float(void) { return H5T_NATIVE_FLOAT; }
/// `H5T_NATIVE_DOUBLE`: the memory type of a Swift `Double`.
static inline hid_t gc_native_double(void) { return H5T_NATIVE_DOUBLE; }
// The little-endian IEEE float of `bits` bits (16, 32 or 64) as a new type the caller closes: the
// store's raw transfer encoding. HDF5 1.10 has no predefined half type, so binary16 is built from
// `H5T_IEEE_F32LE` (sign bit 15, exponent bits 10..14 with bias 15, mantissa bits 0..9).
static inline hid_t gc_ieee_float_le(int bits) {
    if (bits == 64) return H5Tcopy(H5T_IEEE_F64LE);
    if (bits == 32) return H5Tcopy(H5T_IEEE_F32LE);
    if (bits != 16) return -1;
    hid_t type = H5Tcopy(H5T_IEEE_F32LE);
    if (type < 0) return -1;
    if (H5Tset_fields(type, 15, 10, 5, 0, 10) < 0 || H5Tset_precision(type, 16) < 0 || H5Tset_size(type, 2) < 0
        || H5Tset_ebias(type, 15) < 0) {
        H5Tclose(type);
        return -1;
    }
    return type;
}
/// `H5T_C_S1`: a one-byte C string, the base of string memory types.
static inline hid_t gc_c_string(void) { return H5T_C_S1; }
/// `H5T_VARIABLE`: the size that makes a string type variable-length.
static inline size_t gc_variable_size(void) { return H5T_VARIABLE; }

/// Whether `path` starts like an HDF5 file (`H5Fis_hdf5` in 1.10, `H5Fis_accessible` in 1.12+):
/// positive yes, zero no, negative when it cannot be read.
static inline htri_t gc_is_hdf5(const char *path) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Fis_accessible(path, H5P_DEFAULT);
#else
    return H5Fis_hdf5(path);
#endif
}

/// A file access property list without HDF5's `flock`-based file locking (`H5Pset_file_locking`, 1.10.7+).
/// Input files are only read, and outputs are private temporary files; a lock would only get in the way
/// (a lock held by a descriptor that a forked child inherited makes the next open fail).
static inline hid_t gc_file_access_plist_without_locking(void) {
    hid_t plist = H5Pcreate(H5P_FILE_ACCESS);
    if (plist < 0) return plist;
#if H5_VERSION_GE(1, 10, 7)
    if (H5Pset_file_locking(plist, 0, 1) < 0) { H5Pclose(plist); return -1; }
#endif
    return plist;
}

/// The file access list for writing: as `gc_file_access_plist_without_locking`, with the 1.8 file format
/// (object headers version 2), whose dense storage holds attributes of any size; readable by HDF5 >= 1.8.
static inline hid_t gc_file_access_plist_for_writing(void) {
    hid_t plist = gc_file_access_plist_without_locking();
    if (plist < 0) return plist;
    if (H5Pset_libver_bounds(plist, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) { H5Pclose(plist); return -1; }
    return plist;
}

// MARK: - A file held in memory

// A file image is a whole HDF5 file in a buffer (a member of a zip archive read into memory). The core
// driver (`H5Pset_fapl_core` + `H5Pset_file_image`) copies an image twice by default, once into the
// property list and once more when the file opens; these callbacks (`H5Pset_file_image_callbacks`, what
// `H5LTopen_file_image` does with `H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE`, without
// linking libhdf5_hl) make libhdf5 read the caller's buffer itself: never copied, never freed, never
// grown. The caller keeps the buffer and the `gc_file_image` alive until the file and every object in it
// are closed.

/// The caller's buffer, handed to the callbacks.
typedef struct { void *buffer; size_t size; } gc_file_image;

/// "Allocating" the image gives the caller's buffer, whatever the operation; any other size is refused.
static void *gc_image_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)op;
    gc_file_image *image = (gc_file_image *)udata;
    return size == image->size ? image->buffer : NULL;
}

/// A "copy" onto itself is the only one there is (source and destination are the caller's buffer).
static void *gc_image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)size; (void)op; (void)udata;
    return dest == src ? dest : NULL;
}

/// The image never grows: the file is opened read-only.
static void *gc_image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)ptr; (void)size; (void)op; (void)udata;
    return NULL;
}

/// Nothing is freed: the buffer is the caller's.
static herr_t gc_image_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
    (void)ptr; (void)op; (void)udata;
    return 0;
}

/// Property lists copied from one another share the one `gc_file_image`, which the caller owns.
static void *gc_image_udata_copy(void *udata) { return udata; }
static herr_t gc_image_udata_free(void *udata) { (void)udata; return 0; }

/// Opens the HDF5 file held in `image` read-only, in place (`H5Pset_fapl_core` without a backing store,
/// `H5Pset_file_image_callbacks` as above, `H5Pset_file_image`, `H5Fopen` with `H5F_ACC_RDONLY`).
/// `name` identifies the file to libhdf5 only: it must be unique among open files (libhdf5 takes two core
/// files of one name for the same file) and must not exist on disk (the core driver refuses an image
/// whose name is an existing file). Returns the file, or negative on failure.
static inline hid_t gc_open_file_image(gc_file_image *image, const char *name) {
    hid_t plist = H5Pcreate(H5P_FILE_ACCESS);
    if (plist < 0) return -1;
    H5FD_file_image_callbacks_t callbacks = {
        gc_image_malloc, gc_image_memcpy, gc_image_realloc, gc_image_free,
        gc_image_udata_copy, gc_image_udata_free, image
    };
    hid_t file = -1;
    if (H5Pset_fapl_core(plist, 64 * 1024, 0) >= 0
        && H5Pset_file_image_callbacks(plist, &callbacks) >= 0
        && H5Pset_file_image(plist, image->buffer, image->size) >= 0) {
        file = H5Fopen(name, H5F_ACC_RDONLY, plist);
    }
    H5Pclose(plist);
    return file;
}

// MARK: - Errors

/// Stops HDF5 from printing its error stack to stderr (`H5Eset_auto2` on the default stack).
static inline herr_t gc_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct { char *buffer; size_t capacity; int depth; } gc_error_collector;

/// Walk callback: keeps the innermost (deepest) description, where HDF5 says what actually failed.
static herr_t gc_error_walk(unsigned n, const H5E_error2_t *err, void *data) {
    gc_error_collector *c = (gc_error_collector *)data;
    if (err->desc != NULL && err->desc[0] != '\0') {
        snprintf(c->buffer, c->capacity, "%s", err->desc);
        c->depth = (int)n + 1;
    }
    return 0;
}

/// Copies the innermost message of the current thread's error stack into `buffer` and clears the stack
/// (`H5Ewalk2` downward, then `H5Eclear2`). Returns the stack depth seen, 0 when the stack was empty.
static inline int gc_take_error_message(char *buffer, size_t capacity) {
    gc_error_collector c = { buffer, capacity, 0 };
    if (capacity > 0) buffer[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, gc_error_walk, &c);
    H5Eclear2(H5E_DEFAULT);
    return c.depth;
}

// MARK: - Walking a file

// HDF5 1.12 renamed the object and link info structs; this is the one place that picks them.
#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t gc_object_info;
typedef H5L_info2_t gc_link_info;
#else
typedef H5O_info_t gc_object_info;
typedef H5L_info_t gc_link_info;
#endif

/// What `gc_visit_objects` reports for each object: a path relative to the start, its kind and its
/// address in the file (what a hard link to it carries, see `gc_visit_links`).
typedef int (*gc_object_visitor)(const char *name, H5O_type_t type, unsigned long long address, void *context);

typedef struct { gc_object_visitor visit; void *context; } gc_visit_state;

static herr_t gc_visit_trampoline(hid_t obj, const char *name, const gc_object_info *info, void *data) {
    (void)obj;
    unsigned long long address = 0;
#if H5_VERSION_GE(1, 12, 0)
    memcpy(&address, &info->token, sizeof address < sizeof info->token ? sizeof address : sizeof info->token);
#else
    address = (unsigned long long)info->addr;
#endif
    return ((gc_visit_state *)data)->visit(name, info->type, address, ((gc_visit_state *)data)->context);
}

/// Visits every object reachable by hard links from `location` once, in increasing name order
/// (`H5Ovisit2` in 1.10, `H5Ovisit3` in 1.12+, basic info only). Soft and external links are not followed.
static inline herr_t gc_visit_objects(hid_t location, gc_object_visitor visit, void *context) {
    gc_visit_state state = { visit, context };
#if H5_VERSION_GE(1, 12, 0)
    return H5Ovisit3(location, H5_INDEX_NAME, H5_ITER_INC, gc_visit_trampoline, &state, H5O_INFO_BASIC);
#else
    return H5Ovisit2(location, H5_INDEX_NAME, H5_ITER_INC, gc_visit_trampoline, &state, H5O_INFO_BASIC);
#endif
}

// MARK: - Writing

/// A new link creation property list (`H5P_LINK_CREATE`) that creates missing intermediate groups.
static inline hid_t gc_link_create_plist_with_intermediate_groups(void) {
    hid_t plist = H5Pcreate(H5P_LINK_CREATE);
    if (plist < 0) return plist;
    if (H5Pset_create_intermediate_group(plist, 1) < 0) { H5Pclose(plist); return -1; }
    return plist;
}

/// A dataset creation property list for datasets that will be written in full: never filled first
/// (`H5D_FILL_TIME_NEVER`).
static inline hid_t gc_dataset_create_plist_written_in_full(void) {
    hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    if (plist < 0) return plist;
    if (H5Pset_fill_time(plist, H5D_FILL_TIME_NEVER) < 0) { H5Pclose(plist); return -1; }
    return plist;
}

/// What `gc_visit_attributes` reports for each attribute of an object: its name.
typedef int (*gc_attribute_visitor)(const char *name, void *context);

typedef struct { gc_attribute_visitor visit; void *context; } gc_attribute_state;

static herr_t gc_attribute_trampoline(hid_t location, const char *name, const H5A_info_t *info, void *data) {
    (void)location; (void)info;
    gc_attribute_state *state = (gc_attribute_state *)data;
    return state->visit(name, state->context);
}

/// Visits the attributes of `object` in increasing name order (`H5Aiterate2`).
static inline herr_t gc_visit_attributes(hid_t object, gc_attribute_visitor visit, void *context) {
    gc_attribute_state state = { visit, context };
    hsize_t index = 0;
    return H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, gc_attribute_trampoline, &state);
}

// MARK: - Reach outside the file

/// What `gc_visit_links` reports for each link: its path, its kind (0 hard, 1 soft, 2 external, 3 other)
/// and, for a hard link, the object's address in the file (two names of one object share it).
typedef int (*gc_link_visitor)(const char *name, int kind, unsigned long long address, void *context);

typedef struct { gc_link_visitor visit; void *context; } gc_link_state;

static herr_t gc_link_trampoline(hid_t group, const char *name, const gc_link_info *info, void *data) {
    (void)group;
    gc_link_state *state = (gc_link_state *)data;
    int kind = info->type == H5L_TYPE_HARD ? 0 : info->type == H5L_TYPE_SOFT ? 1 : info->type == H5L_TYPE_EXTERNAL ? 2 : 3;
    unsigned long long address = 0;
    if (info->type == H5L_TYPE_HARD) {
#if H5_VERSION_GE(1, 12, 0)
        memcpy(&address, &info->u.token, sizeof address < sizeof info->u.token ? sizeof address : sizeof info->u.token);
#else
        address = (unsigned long long)info->u.address;
#endif
    }
    return state->visit(name, kind, address, state->context);
}

/// Visits every link reachable from `location` by hard links, in name order (`H5Lvisit` / `H5Lvisit2`);
/// external and soft links are reported, never followed.
static inline herr_t gc_visit_links(hid_t location, gc_link_visitor visit, void *context) {
    gc_link_state state = { visit, context };
#if H5_VERSION_GE(1, 12, 0)
    return H5Lvisit2(location, H5_INDEX_NAME, H5_ITER_INC, gc_link_trampoline, &state);
#else
    return H5Lvisit(location, H5_INDEX_NAME, H5_ITER_INC, gc_link_trampoline, &state);
#endif
}

/// The file and object an external link names (`H5Lget_val`, `H5Lunpack_elink_val`), copied into the buffers.
static inline herr_t gc_external_link_target(hid_t location, const char *name, char *file, size_t file_size,
                                             char *object, size_t object_size) {
#if H5_VERSION_GE(1, 12, 0)
    H5L_info2_t info;
    if (H5Lget_info2(location, name, &info, H5P_DEFAULT) < 0) return -1;
#else
    H5L_info_t info;
    if (H5Lget_info(location, name, &info, H5P_DEFAULT) < 0) return -1;
#endif
    size_t size = info.u.val_size;
    char *buffer = size > 0 ? malloc(size) : NULL;
    if (buffer == NULL) return -1;
    const char *target_file = NULL, *target_object = NULL;
    if (H5Lget_val(location, name, buffer, size, H5P_DEFAULT) < 0
        || H5Lunpack_elink_val(buffer, size, NULL, &target_file, &target_object) < 0) { free(buffer); return -1; }
    snprintf(file, file_size, "%s", target_file ? target_file : "");
    snprintf(object, object_size, "%s", target_object ? target_object : "");
    free(buffer);
    return 0;
}

/// The size in bytes of the value a soft or external link holds (`H5Lget_info`): a soft link's path with
/// its NUL, an external link's packed file and object names; 0 when `name` is not such a link.
static inline size_t gc_link_value_size(hid_t location, const char *name) {
    gc_link_info info;
#if H5_VERSION_GE(1, 12, 0)
    if (H5Lget_info2(location, name, &info, H5P_DEFAULT) < 0) return 0;
#else
    if (H5Lget_info(location, name, &info, H5P_DEFAULT) < 0) return 0;
#endif
    return info.type == H5L_TYPE_HARD ? 0 : info.u.val_size;
}

/// Whether a dataset keeps its values outside the file: 1 for external raw storage, 2 for a virtual
/// dataset, 0 for neither, negative on failure; `file` gets the first other file it names.
static inline int gc_dataset_storage_outside(hid_t dataset, char *file, size_t file_size) {
    hid_t plist = H5Dget_create_plist(dataset);
    if (plist < 0) return -1;
    int result = 0;
    if (file_size > 0) file[0] = '\0';
    if (H5Pget_external_count(plist) > 0) {
        off_t offset; hsize_t size;
        H5Pget_external(plist, 0, file_size, file, &offset, &size);
        result = 1;
    } else if (H5Pget_layout(plist) == H5D_VIRTUAL) {
        H5Pget_virtual_filename(plist, 0, file, file_size);
        result = 2;
    }
    H5Pclose(plist);
    return result;
}

/// Where a contiguous dataset's declared storage ends in the file (`H5Dget_offset` plus the size its
/// type and shape need), or 0 for other layouts and unallocated storage.
static inline unsigned long long gc_contiguous_storage_end(hid_t dataset) {
    haddr_t offset = H5Dget_offset(dataset);
    if (offset == HADDR_UNDEF) return 0;
    hid_t type = H5Dget_type(dataset), space = H5Dget_space(dataset);
    hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    size_t size = type >= 0 ? H5Tget_size(type) : 0;
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (count < 0 || size == 0) return 0;
    unsigned long long bytes = (unsigned long long)count * size;
    if (size != 0 && bytes / size != (unsigned long long)count) return ~0ULL;
    return (unsigned long long)offset + bytes < (unsigned long long)offset ? ~0ULL : (unsigned long long)offset + bytes;
}

// MARK: - Variable-length strings

/// Frees what HDF5 allocated while reading variable-length data (`H5Dvlen_reclaim` / `H5Treclaim`).
static inline herr_t gc_reclaim(hid_t type, hid_t space, void *buffer) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Treclaim(type, space, H5P_DEFAULT, buffer);
#else
    return H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
#endif
}


// MARK: - Links, committed datatypes and references, carried into a new file

/// The path a soft link holds (`H5Lget_val`), copied into `target`; -1 if `name` is not a soft link or
/// its value does not fit.
static inline herr_t gc_soft_link_target(hid_t location, const char *name, char *target, size_t target_size) {
    gc_link_info info;
#if H5_VERSION_GE(1, 12, 0)
    if (H5Lget_info2(location, name, &info, H5P_DEFAULT) < 0) return -1;
#else
    if (H5Lget_info(location, name, &info, H5P_DEFAULT) < 0) return -1;
#endif
    if (info.type != H5L_TYPE_SOFT || info.u.val_size == 0 || info.u.val_size > target_size) return -1;
    if (H5Lget_val(location, name, target, target_size, H5P_DEFAULT) < 0) return -1;
    target[target_size - 1] = '\0';
    return 0;
}

/// The address of an open object in its file (what `gc_visit_links` reports for its hard links), or 0.
static inline unsigned long long gc_object_address(hid_t object) {
    gc_object_info info;
    unsigned long long address = 0;
#if H5_VERSION_GE(1, 12, 0)
    if (H5Oget_info3(object, &info, H5O_INFO_BASIC) < 0) return 0;
    memcpy(&address, &info.token, sizeof address < sizeof info.token ? sizeof address : sizeof info.token);
#else
    if (H5Oget_info2(object, &info, H5O_INFO_BASIC) < 0) return 0;
    address = (unsigned long long)info.addr;
#endif
    return address;
}

/// How many attributes an open object has, or -1.
static inline long long gc_object_attribute_count(hid_t object) {
    gc_object_info info;
#if H5_VERSION_GE(1, 12, 0)
    if (H5Oget_info3(object, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
#else
    if (H5Oget_info2(object, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
#endif
    return (long long)info.num_attrs;
}

/// An object copy property list (`H5P_OBJECT_COPY`) under which `H5Ocopy` reuses a committed datatype
/// already in the destination file instead of making an anonymous copy of it.
static inline hid_t gc_object_copy_plist_merging_committed_types(void) {
    hid_t plist = H5Pcreate(H5P_OBJECT_COPY);
    if (plist < 0) return plist;
    if (H5Pset_copy_object(plist, H5O_COPY_MERGE_COMMITTED_DTYPE_FLAG) < 0) { H5Pclose(plist); return -1; }
    return plist;
}

/// Which kind of reference a datatype holds: 1 object references (`H5T_STD_REF_OBJ`), 2 dataset region
/// references (`H5T_STD_REF_DSETREG`), 0 neither.
static inline int gc_reference_kind(hid_t type) {
    if (H5Tget_class(type) != H5T_REFERENCE) return 0;
    if (H5Tequal(type, H5T_STD_REF_OBJ) > 0) return 1;
    if (H5Tequal(type, H5T_STD_REF_DSETREG) > 0) return 2;
    return 0;
}

/// The size in bytes of one reference of `kind` (`hobj_ref_t` or `hdset_reg_ref_t`).
static inline size_t gc_reference_size(int kind) { return kind == 2 ? sizeof(hdset_reg_ref_t) : sizeof(hobj_ref_t); }

/// A copy of the reference type of `kind` (the caller closes it).
static inline hid_t gc_reference_type(int kind) { return H5Tcopy(kind == 2 ? H5T_STD_REF_DSETREG : H5T_STD_REF_OBJ); }

/// Where one reference read from the file of `location` points: the object's address and, for a region
/// reference, a new dataspace holding the region's selection in `selection` (the caller closes it; -1
/// for object references). Returns 0, or -1 when it points nowhere readable.
static inline herr_t gc_reference_target(hid_t location, int kind, const void *reference,
                                         unsigned long long *address, hid_t *selection) {
    H5R_type_t type = kind == 2 ? H5R_DATASET_REGION : H5R_OBJECT;
    *selection = -1;
    hid_t object = H5Rdereference2(location, H5P_DEFAULT, type, reference);
    if (object < 0) return -1;
    *address = gc_object_address(object);
    H5Oclose(object);
    if (*address == 0) return -1;
    if (kind == 2) {
        *selection = H5Rget_region(location, type, reference);
        if (*selection < 0) return -1;
    }
    return 0;
}

/// Makes a reference of `kind` in `reference` to the object `name` of `file`, with `selection` for a
/// region reference (`H5Rcreate`).
static inline herr_t gc_reference_create(void *reference, hid_t file, const char *name, int kind, hid_t selection) {
    return H5Rcreate(reference, file, name, kind == 2 ? H5R_DATASET_REGION : H5R_OBJECT, kind == 2 ? selection : -1);
}

// MARK: - The LZF filter (h5py's default compressor), decoding only

/// h5py's registered filter id for LZF.
#define GC_LZF_FILTER_ID 32000

/// Decodes LZF `in` into `out` (the format: a control byte below 32 starts a run of control + 1 literal
/// bytes; above, its top three bits (7: plus the next byte) + 2 bytes are copied from the output at the
/// distance given by its low five bits and the next byte, + 1). Returns the bytes written, -1 when `out`
/// is too small, -2 when `in` is not LZF.
static inline long gc_lzf_decode(const unsigned char *in, size_t in_len, unsigned char *out, size_t out_len) {
    size_t i = 0, o = 0;
    while (i < in_len) {
        unsigned control = in[i++];
        if (control < 32) {
            size_t run = (size_t)control + 1;
            if (run > in_len - i) return -2;
            if (run > out_len - o) return -1;
            memcpy(out + o, in + i, run);
            i += run;
            o += run;
        } else {
            size_t length = control >> 5;
            if (length == 7) {
                if (i >= in_len) return -2;
                length += in[i++];
            }
            if (i >= in_len) return -2;
            size_t distance = ((size_t)(control & 0x1f) << 8) + in[i++] + 1;
            length += 2;
            if (distance > o) return -2;
            if (length > out_len - o) return -1;
            for (size_t k = 0; k < length; k++) out[o + k] = out[o - distance + k];   /* may overlap: byte by byte */
            o += length;
        }
    }
    return (long)o;
}

/// The filter function HDF5 calls: decoding only (writing LZF is refused). The decoded size is the
/// chunk's size in bytes when h5py recorded it (third filter parameter), else grows from the buffer's.
static inline size_t gc_lzf_filter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes,
                                   size_t *buf_size, void **buf) {
    if (!(flags & H5Z_FLAG_REVERSE)) return 0;
    size_t size = (cd_nelmts >= 3 && cd_values[2] != 0) ? cd_values[2] : *buf_size;
    for (int attempt = 0; attempt < 8; attempt++) {
        unsigned char *out = H5allocate_memory(size, 0);
        if (!out) return 0;
        long written = gc_lzf_decode(*buf, nbytes, out, size);
        if (written >= 0) {
            H5free_memory(*buf);
            *buf = out;
            *buf_size = size;
            return (size_t)written;
        }
        H5free_memory(out);
        if (written == -2) return 0;
        size *= 2;                                   /* recorded size too small: grow, a few times */
    }
    return 0;
}

/// Registers the LZF decoder unless libhdf5 already has a working LZF filter (a plugin). Returns 1 when
/// this one is registered, 0 when one was there, negative on failure.
static inline int gc_register_lzf(void) {
    if (H5Zfilter_avail(GC_LZF_FILTER_ID) > 0) return 0;
    H5Z_class2_t lzf = {H5Z_CLASS_T_VERS, GC_LZF_FILTER_ID, 1, 1, "lzf (gru-convert, decoding only)", NULL, NULL,
                        (H5Z_func_t)gc_lzf_filter};
    return H5Zregister(&lzf) < 0 ? -1 : 1;
}

#endif
