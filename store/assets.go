package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// UpsertAssets merges assets into the inventory and notes that scanID saw
// them. Merge rules against the stored asset: MACs, Services, Uses and
// Sources are unioned (sorted, deduplicated); FirstSeen is the earliest and
// LastSeen the latest; identity fields (MACVendor, Vendor, Model,
// ProductCode, Firmware, Serial, Name) are overwritten only by non-empty
// values; Zone, Registered and Role are the new asset's. An asset without a
// Key gets otaudit.AssetKey(IP).
func (db *DB) UpsertAssets(ctx context.Context, scanID uint64, assets []otaudit.Asset) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: upsert assets for scan %d: %w", db.path, scanID, err)
	}
	return db.update(fmt.Sprintf("upsert assets for scan %d", scanID), func(tx *bolt.Tx) error {
		if err := requireScan(tx, scanID); err != nil {
			return err
		}
		b := tx.Bucket(bucketAssets)
		seen := tx.Bucket(bucketScanAssets)
		for i := range assets {
			a := assets[i]
			if a.Key == "" {
				if !a.IP.IsValid() {
					return fmt.Errorf("asset %d: neither key nor IP address", i)
				}
				a.Key = otaudit.AssetKey(a.IP)
			}
			if old := b.Get([]byte(a.Key)); old != nil {
				stored, err := decode[otaudit.Asset](old, kindAsset)
				if err != nil {
					return fmt.Errorf("asset %s: %w", a.Key, err)
				}
				a = mergeAsset(stored, a)
			} else {
				a = mergeAsset(otaudit.Asset{}, a)
			}
			v, err := encode(kindAsset, &a)
			if err != nil {
				return fmt.Errorf("asset %s: %w", a.Key, err)
			}
			if err := b.Put([]byte(a.Key), v); err != nil {
				return fmt.Errorf("asset %s: %w", a.Key, err)
			}
			if err := seen.Put(scanPrefixedKey(scanID, a.Key), nil); err != nil {
				return fmt.Errorf("asset %s: %w", a.Key, err)
			}
		}
		return nil
	})
}

// mergeAsset folds next into stored (see UpsertAssets). With an empty
// stored asset it only normalises next's lists.
func mergeAsset(stored, next otaudit.Asset) otaudit.Asset {
	out := next
	if !out.IP.IsValid() {
		out.IP = stored.IP
	}
	out.MACs = unionSorted(stored.MACs, next.MACs, cmp.Compare[string])
	out.Sources = unionSorted(stored.Sources, next.Sources, cmp.Compare[string])
	out.Services = unionSorted(stored.Services, next.Services, compareService)
	out.Uses = unionSorted(stored.Uses, next.Uses, compareService)
	for _, f := range []struct {
		dst *string
		old string
	}{
		{&out.MACVendor, stored.MACVendor}, {&out.Vendor, stored.Vendor}, {&out.Model, stored.Model},
		{&out.ProductCode, stored.ProductCode}, {&out.Firmware, stored.Firmware},
		{&out.Serial, stored.Serial}, {&out.Name, stored.Name},
	} {
		if *f.dst == "" {
			*f.dst = f.old
		}
	}
	if out.FirstSeen.IsZero() || (!stored.FirstSeen.IsZero() && stored.FirstSeen.Before(out.FirstSeen)) {
		out.FirstSeen = stored.FirstSeen
	}
	if stored.LastSeen.After(out.LastSeen) {
		out.LastSeen = stored.LastSeen
	}
	return out
}

func compareService(a, b otaudit.Service) int {
	return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Transport, b.Transport), cmp.Compare(a.Port, b.Port))
}

// unionSorted returns the sorted, deduplicated union of a and b (nil when
// both are empty, so that an unchanged asset encodes identically).
func unionSorted[T any](a, b []T, compare func(T, T) int) []T {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]T, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.SortFunc(out, compare)
	return slices.CompactFunc(out, func(x, y T) bool { return compare(x, y) == 0 })
}

// Assets returns the whole inventory sorted by IP address (assets without
// one last, by key).
func (db *DB) Assets(ctx context.Context) ([]otaudit.Asset, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: list assets: %w", db.path, err)
	}
	var out []otaudit.Asset
	err := db.view("list assets", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAssets).ForEach(func(k, v []byte) error {
			a, err := decode[otaudit.Asset](v, kindAsset)
			if err != nil {
				return fmt.Errorf("asset %s: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b otaudit.Asset) int {
		if a.IP.IsValid() != b.IP.IsValid() {
			if a.IP.IsValid() {
				return -1
			}
			return 1
		}
		return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Key, b.Key))
	})
	return out, err
}
