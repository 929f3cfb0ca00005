/* args.c -- argument parsing for the module's METH_FASTCALL|METH_KEYWORDS
 * functions, with Python's own TypeError messages. */
#include "state.h"

int
ac_parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
              PyObject *kwnames, const char *const *names, int nnames,
              int npos, int nrequired, PyObject **vals)
{
    if (nargs > npos) {
        if (nrequired == npos) {
            PyErr_Format(PyExc_TypeError,
                         "%s() takes %d positional argument%s but %zd %s given",
                         fname, npos, npos == 1 ? "" : "s", nargs,
                         nargs == 1 ? "was" : "were");
        }
        else {
            PyErr_Format(PyExc_TypeError,
                         "%s() takes from %d to %d positional arguments but "
                         "%zd %s given", fname, nrequired, npos, nargs,
                         nargs == 1 ? "was" : "were");
        }
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        vals[i] = args[i];
    }
    char given[16] = {0};
    assert(nnames <= 16);
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int i;
        for (i = 0; i < nnames; i++) {
            if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) {
                break;
            }
        }
        if (i == nnames) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%U'",
                         fname, key);
            return -1;
        }
        if (i < nargs || given[i]) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got multiple values for argument '%s'",
                         fname, names[i]);
            return -1;
        }
        given[i] = 1;
        vals[i] = args[nargs + k];
    }
    /* Python names every missing one: 'a', 'a' and 'b', 'a', 'b', and 'c' */
    int missing[16], nmissing = 0;
    for (int i = (int)nargs; i < nrequired; i++) {
        if (!given[i]) {
            missing[nmissing++] = i;
        }
    }
    if (nmissing == 0) {
        return 0;
    }
    PyObject *list = PyUnicode_FromString("");
    for (int k = 0; k < nmissing && list != NULL; k++) {
        const char *sep = k == 0 ? "" :
            k < nmissing - 1 ? ", " : nmissing == 2 ? " and " : ", and ";
        Py_SETREF(list, PyUnicode_FromFormat("%U%s'%s'", list, sep,
                                             names[missing[k]]));
    }
    if (list != NULL) {
        PyErr_Format(PyExc_TypeError,
                     "%s() missing %d required positional argument%s: %U",
                     fname, nmissing, nmissing == 1 ? "" : "s", list);
        Py_DECREF(list);
    }
    return -1;
}
