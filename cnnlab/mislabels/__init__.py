"""The mislabel finder: out-of-sample probabilities of the training images by k-fold
cross-training (`crossval`), ranked by cleanlab's confident learning (`rank`), cached in the run
folder (`cache`), computed here or as the app's background job (`job`), and the new dataset
versions (label patches, `cnnlab.data.patch`) made from the suspects (`versions`).

Never imports streamlit: the CLI (`cnnlab mislabels`), the tests and Evaluate share this path.
"""
